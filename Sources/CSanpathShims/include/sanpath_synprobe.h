// sanpath_synprobe: a half-open TCP probe (SYN, then the peer's SYN-ACK or RST), for portals.
//
// A TCP connect probe makes the target's iSCSI stack accept a connection that never logs in:
// LIO logs "rx_data returned 0, expecting 48" and "iSCSI Login negotiation failed" for each one,
// and arrays log the like. A SYN answered by a SYN-ACK proves the same (the network path through
// the NIC and a listener on the portal) while the target's iSCSI layer never sees a connection:
// the initiator's kernel answers the SYN-ACK with a RST, as no socket of ours listens or connects
// on the source port (a bound, idle TCP socket only reserves it). IPv4; needs CAP_NET_RAW.
#ifndef SANPATH_SYNPROBE_H
#define SANPATH_SYNPROBE_H

#include <netinet/in.h>

// What a probe saw.
#define SANPATH_SYN_OPEN 1      // SYN-ACK: something listens on the portal
#define SANPATH_SYN_REFUSED 2   // RST: the host answers, nothing listens on the port
#define SANPATH_SYN_TIMEOUT 3   // no answer within the timeout
#define SANPATH_SYN_ERROR 4     // a system call failed: *step names it, *error_number is its errno

// Sends one SYN to `destination` (address and port), through `device` when not NULL
// (SO_BINDTODEVICE), and waits up to `timeout_ms` for the answer: open, probe once, close.
int sanpath_syn_probe(const struct sockaddr_in *destination, const char *device, int timeout_ms,
                      const char **step, int *error_number);

// A prober kept open between probes of one portal through one NIC: its source address and port,
// and its raw socket with the filter. Each probe is then a send, a poll and a receive.
typedef struct sanpath_syn_prober sanpath_syn_prober;

// Opens a prober; NULL with *step and *error_number set when a system call failed.
sanpath_syn_prober *sanpath_syn_open(const struct sockaddr_in *destination, const char *device,
                                     const char **step, int *error_number);
// One probe (a fresh sequence number); the SANPATH_SYN_* results above.
int sanpath_syn_probe_once(sanpath_syn_prober *prober, int timeout_ms, const char **step, int *error_number);
// Probes up to 64 probers at once: a SYN each, then one poll over all their sockets until each
// has its answer or timeout_ms passed. For prober i: results[i] (SANPATH_SYN_*), elapsed_us[i]
// (microseconds from the start to its answer), and steps[i] / error_numbers[i] where a system
// call failed. One wake-up a round for every portal, where a probe each costs one a portal.
void sanpath_syn_probe_all(sanpath_syn_prober *const *probers, int count, int timeout_ms, int *results,
                           long long *elapsed_us, const char **steps, int *error_numbers);
// Closes its sockets and frees it.
void sanpath_syn_close(sanpath_syn_prober *prober);
// Names the calling thread for the kernel (comm: top -H, /proc/PID/task/TID/comm), at most 15
// bytes kept; 0 or -1 with errno.
int sanpath_name_this_thread(const char *name);
// The malloc heap (glibc mallinfo2): bytes in use by the program, bytes free but kept by malloc
// (its arenas' free chunks), and bytes in chunks mmapped on their own.
void sanpath_heap_figures(unsigned long long *in_use, unsigned long long *kept_free, unsigned long long *mmapped);

#endif
