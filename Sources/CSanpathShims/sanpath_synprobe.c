// sanpath_synprobe.c: see include/sanpath_synprobe.h.
#include "sanpath_synprobe.h"

#include <errno.h>
#include <linux/filter.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct sanpath_syn_prober {
    struct sockaddr_in destination;
    struct sockaddr_in source;  // address and reserved port
    int reserve;                // the bound TCP socket that holds the source port
    int raw;                    // sends the SYN, receives the answer (filtered)
};

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int bind_device(int fd, const char *device) {
    if (device == NULL) return 0;
    return setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, (socklen_t)strlen(device) + 1);
}

// The one's-complement sum of RFC 793's pseudo-header and the segment.
static uint16_t tcp_checksum(uint32_t source, uint32_t destination, const uint8_t *segment, size_t length) {
    uint32_t sum = 0;
    sum += (ntohl(source) >> 16) + (ntohl(source) & 0xffff);
    sum += (ntohl(destination) >> 16) + (ntohl(destination) & 0xffff);
    sum += IPPROTO_TCP + (uint32_t)length;
    for (size_t i = 0; i + 1 < length; i += 2) sum += (uint32_t)(segment[i] << 8 | segment[i + 1]);
    if (length & 1) sum += (uint32_t)(segment[length - 1] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

#define FAIL(name) do { *step = (name); *error_number = errno; goto failed; } while (0)

sanpath_syn_prober *sanpath_syn_open(const struct sockaddr_in *destination, const char *device,
                                     const char **step, int *error_number) {
    *step = "";
    *error_number = 0;
    int route = -1;
    sanpath_syn_prober *prober = calloc(1, sizeof *prober);
    if (prober == NULL) { *step = "memory"; *error_number = ENOMEM; return NULL; }
    prober->destination = *destination;
    prober->reserve = -1;
    prober->raw = -1;

    // the source address the kernel routes this destination from (through the NIC)
    socklen_t length = sizeof prober->source;
    route = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (route < 0) FAIL("socket");
    if (bind_device(route, device) != 0) FAIL("bind to NIC");
    if (connect(route, (const struct sockaddr *)destination, sizeof *destination) != 0) FAIL("route");
    if (getsockname(route, (struct sockaddr *)&prober->source, &length) != 0) FAIL("route");
    close(route);
    route = -1;

    // a source port of our own: bound, never listening or connecting, so the kernel answers
    // the peer's SYN-ACK with a RST and no real connection can share the four-tuple
    prober->reserve = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (prober->reserve < 0) FAIL("socket");
    if (bind_device(prober->reserve, device) != 0) FAIL("bind to NIC");
    prober->source.sin_port = 0;
    if (bind(prober->reserve, (struct sockaddr *)&prober->source, sizeof prober->source) != 0) FAIL("bind");
    length = sizeof prober->source;
    if (getsockname(prober->reserve, (struct sockaddr *)&prober->source, &length) != 0) FAIL("bind");

    prober->raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
    if (prober->raw < 0) FAIL("raw socket");
    if (bind_device(prober->raw, device) != 0) FAIL("bind to NIC");
    // the kernel hands this socket only the peer's segments to our port: IP source, then the
    // TCP ports behind an IP header of any length
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 12),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohl(destination->sin_addr.s_addr), 0, 6),
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohs(destination->sin_port), 0, 3),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohs(prober->source.sin_port), 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xffff),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog program = { .len = sizeof code / sizeof code[0], .filter = code };
    if (setsockopt(prober->raw, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0) FAIL("filter");
    return prober;

failed:
    if (route >= 0) close(route);
    sanpath_syn_close(prober);
    return NULL;
}

void sanpath_syn_close(sanpath_syn_prober *prober) {
    if (prober == NULL) return;
    if (prober->raw >= 0) close(prober->raw);
    if (prober->reserve >= 0) close(prober->reserve);
    free(prober);
}

#undef FAIL
#define FAIL(name) do { *step = (name); *error_number = errno; return SANPATH_SYN_ERROR; } while (0)

// Drains what came before (a late answer to an earlier probe is not this one's) and sends one
// SYN with a fresh sequence number: 0, or SANPATH_SYN_ERROR.
static int syn_send(sanpath_syn_prober *prober, const char **step, int *error_number) {
    uint8_t packet[1500];
    while (recv(prober->raw, packet, sizeof packet, 0) >= 0) {}

    uint32_t sequence;
    if (getrandom(&sequence, sizeof sequence, 0) != sizeof sequence) sequence = (uint32_t)now_ms() * 2654435761u;
    uint8_t segment[20];
    memset(segment, 0, sizeof segment);
    struct tcphdr *syn = (struct tcphdr *)segment;
    syn->source = prober->source.sin_port;
    syn->dest = prober->destination.sin_port;
    syn->seq = htonl(sequence);
    syn->doff = 5;
    syn->syn = 1;
    syn->window = htons(64240);
    syn->check = tcp_checksum(prober->source.sin_addr.s_addr, prober->destination.sin_addr.s_addr, segment, sizeof segment);
    struct sockaddr_in to = prober->destination;
    to.sin_port = 0;  // raw IPv4 sockets take the protocol from the socket, not a port
    if (sendto(prober->raw, segment, sizeof segment, 0, (struct sockaddr *)&to, sizeof to) != (ssize_t)sizeof segment) FAIL("send");
    return 0;
}

// Reads what the raw socket holds: SANPATH_SYN_OPEN or _REFUSED for the peer's answer, 0 when
// nothing (or only other segments) came, SANPATH_SYN_ERROR when a receive failed.
static int syn_receive(sanpath_syn_prober *prober, const char **step, int *error_number) {
    uint8_t packet[1500];
    for (;;) {
        ssize_t got = recv(prober->raw, packet, sizeof packet, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EAGAIN) return 0;
        if (got < 0) FAIL("receive");
        if (got < (ssize_t)sizeof(struct iphdr)) continue;
        const struct iphdr *ip = (const struct iphdr *)packet;
        size_t header = (size_t)ip->ihl * 4;
        if (ip->protocol != IPPROTO_TCP || ip->saddr != prober->destination.sin_addr.s_addr || (size_t)got < header + 20) continue;
        const struct tcphdr *answer = (const struct tcphdr *)(packet + header);
        if (answer->source != prober->destination.sin_port || answer->dest != prober->source.sin_port) continue;
        // the answer to this SYN acknowledges its sequence number; a target still holding a
        // half-open connection of an earlier probe on the same port (our RST got lost) answers
        // with that one's: it is alive and listening all the same
        if (answer->rst) return SANPATH_SYN_REFUSED;
        if (answer->ack) return SANPATH_SYN_OPEN;
    }
}

int sanpath_syn_probe_once(sanpath_syn_prober *prober, int timeout_ms, const char **step, int *error_number) {
    int result;
    long long elapsed;
    sanpath_syn_probe_all(&prober, 1, timeout_ms, &result, &elapsed, step, error_number);
    return result;
}

#undef FAIL

void sanpath_syn_probe_all(sanpath_syn_prober *const *probers, int count, int timeout_ms, int *results,
                           long long *elapsed_us, const char **steps, int *error_numbers) {
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    long long deadline = now_ms() + timeout_ms;
    int pending = 0;
    for (int i = 0; i < count; i++) {
        steps[i] = "";
        error_numbers[i] = 0;
        elapsed_us[i] = 0;
        results[i] = syn_send(probers[i], &steps[i], &error_numbers[i]);
        if (results[i] == 0) pending++;
    }
    struct pollfd ready[64];
    int index[64];
    while (pending > 0) {
        long long left = deadline - now_ms();
        int watched = 0;
        for (int i = 0; i < count && watched < 64; i++) {
            if (results[i] != 0) continue;
            ready[watched] = (struct pollfd){ .fd = probers[i]->raw, .events = POLLIN };
            index[watched++] = i;
        }
        int polled = left > 0 ? poll(ready, (nfds_t)watched, (int)left) : 0;
        if (polled < 0 && errno == EINTR) continue;
        if (polled <= 0) {
            // the deadline passed (or poll failed): what has not answered did not in time
            int code = errno;
            for (int i = 0; i < count; i++) {
                if (results[i] != 0) continue;
                results[i] = polled < 0 ? SANPATH_SYN_ERROR : SANPATH_SYN_TIMEOUT;
                if (polled < 0) { steps[i] = "poll"; error_numbers[i] = code; }
            }
            break;
        }
        for (int w = 0; w < watched; w++) {
            if (ready[w].revents == 0) continue;
            int i = index[w];
            results[i] = syn_receive(probers[i], &steps[i], &error_numbers[i]);
            if (results[i] != 0) {
                pending--;
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                elapsed_us[i] = (now.tv_sec - started.tv_sec) * 1000000LL + (now.tv_nsec - started.tv_nsec) / 1000;
            }
        }
    }
}

int sanpath_syn_probe(const struct sockaddr_in *destination, const char *device, int timeout_ms,
                      const char **step, int *error_number) {
    sanpath_syn_prober *prober = sanpath_syn_open(destination, device, step, error_number);
    if (prober == NULL) return SANPATH_SYN_ERROR;
    int result = sanpath_syn_probe_once(prober, timeout_ms, step, error_number);
    sanpath_syn_close(prober);
    return result;
}

int sanpath_name_this_thread(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

void sanpath_heap_figures(unsigned long long *in_use, unsigned long long *kept_free, unsigned long long *mmapped) {
    struct mallinfo2 info = mallinfo2();
    *in_use = info.uordblks + info.hblkhd;
    *kept_free = info.fordblks;
    *mmapped = info.hblkhd;
}
