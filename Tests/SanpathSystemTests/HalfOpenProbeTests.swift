import Foundation
import Glibc
import Logging
import Testing

@testable import SanpathSystem

/// Whether this process may open a raw socket (CAP_NET_RAW): the half-open probe needs it, and
/// without it the prober connects instead, which these tests must not mistake for a SYN probe
/// (and the probe loop cannot run).
let rawSocketsAllowed: Bool = {
    let fd = socket(AF_INET, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_TCP))
    guard fd >= 0 else { return false }
    close(fd)
    return true
}()

@Suite(
    "half-open (SYN) portal probes on loopback", .timeLimit(.minutes(1)),
    .enabled(if: rawSocketsAllowed, "needs CAP_NET_RAW for a raw socket: run as root"))
struct HalfOpenProbeTests {
    let prober = TCPProber(logger: Logger(label: "test"), halfOpen: true)

    /// The connections waiting in a listener's accept queue (a non-blocking accept drains them).
    func accepted(by listener: Listener) -> Int {
        let flags = fcntl(listener.fd, F_GETFL)
        _ = fcntl(listener.fd, F_SETFL, flags | O_NONBLOCK)
        var count = 0
        while true {
            let fd = accept(listener.fd, nil, nil)
            guard fd >= 0 else { break }
            close(fd)
            count += 1
        }
        return count
    }

    @Test(
        "a listener answers the SYN, and the target never sees a connection (a connect probe makes one)",
        arguments: ["127.0.0.1", "localhost"])
    func open(host: String) async throws {
        let listener = try Listener(family: AF_INET)
        // an address keeps its prober open between probes; a name is resolved and probed afresh
        for _ in 0..<3 {
            let seconds = await prober.connect(host: host, port: listener.port, timeout: 2, device: "lo")
            #expect(seconds != nil)
        }
        // what the target's iSCSI layer would have accepted: nothing (LIO logs "iSCSI Login
        // negotiation failed" for each connection that does not log in)
        #expect(accepted(by: listener) == 0)
        let connecting = TCPProber(logger: Logger(label: "test"))
        #expect(await connecting.connect(host: "127.0.0.1", port: listener.port, timeout: 2, device: nil) != nil)
        #expect(accepted(by: listener) == 1)
    }

    @Test("a port nothing listens on answers with a RST: refused, without waiting for the timeout")
    func refused() async throws {
        let port = try Listener.freedPort()
        let result = await prober.probe(host: "127.0.0.1", port: port, timeout: 5, device: nil)
        #expect(result == .failure(TCPProber.Failure(step: "SYN", reason: "refused (RST: nothing listens on the port)")))
    }

    @Test("a kept prober whose portal stops listening says so at the next probe")
    func listenerGone() async throws {
        var listener: Listener? = try Listener(family: AF_INET)
        let port = listener!.port
        #expect(await prober.connect(host: "127.0.0.1", port: port, timeout: 2, device: nil) != nil)
        listener = nil
        let result = await prober.probe(host: "127.0.0.1", port: port, timeout: 2, device: nil)
        #expect(result == .failure(TCPProber.Failure(step: "SYN", reason: "refused (RST: nothing listens on the port)")))
    }

    @Test("a SYN that gets no answer (a full accept queue drops it) times out")
    func timeout() async throws {
        let (result, elapsed) = try await Listener.probeWithFullQueue(prober, timeout: 0.5)
        #expect(result == .failure(TCPProber.Failure(step: "SYN", reason: "no answer within 0.5 s")))
        #expect(elapsed >= .milliseconds(480))
    }

    @Test("an unknown NIC is refused by the kernel, named")
    func unknownNIC() async throws {
        let listener = try Listener(family: AF_INET)
        let result = await prober.probe(host: "127.0.0.1", port: listener.port, timeout: 2, device: "sanpath-no-nic0")
        guard case .failure(let failure) = result else {
            Issue.record("probed through a NIC that does not exist")
            return
        }
        #expect(failure.step == "bind to NIC sanpath-no-nic0")
    }

    @Test("IPv6 portals are probed with a connect", .enabled(if: Listener.ipv6Loopback))
    func ipv6() async throws {
        let listener = try Listener(family: AF_INET6)
        #expect(await prober.connect(host: "::1", port: listener.port, timeout: 2, device: nil) != nil)
        #expect(accepted(by: listener) == 1)
    }
}
