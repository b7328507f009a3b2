import Foundation
import Glibc
import Logging
import Testing

@testable import SanpathSystem

@Suite("TCP connect probes on loopback", .timeLimit(.minutes(1)))
struct TCPProberTests {
    let prober = TCPProber(logger: Logger(label: "test"))

    @Test("an IPv4 listener answers with a connect time", arguments: ["127.0.0.1", "localhost"])
    func ipv4(host: String) async throws {
        let listener = try Listener(family: AF_INET)
        let result = await prober.probe(host: host, port: listener.port, timeout: 2, device: nil)
        let seconds = try result.get()
        #expect(seconds >= 0 && seconds < 2)
    }

    @Test("an IPv6 listener on ::1, written plain or bracketed", .enabled(if: Listener.ipv6Loopback), arguments: ["::1", "[::1]"])
    func ipv6(host: String) async throws {
        let listener = try Listener(family: AF_INET6)
        let seconds = await prober.connect(host: host, port: listener.port, timeout: 2, device: nil)
        #expect(seconds != nil)
    }

    @Test("a port nothing listens on is refused at once")
    func refused() async throws {
        let port = try Listener.freedPort()
        let result = await prober.probe(host: "127.0.0.1", port: port, timeout: 2, device: nil)
        // refused, not "timed out after 2 s": the probe did not wait for its timeout (no wall-clock
        // bound here: a loaded machine must not fail a unit test)
        #expect(result == .failure(TCPProber.Failure(step: "connect", reason: "Connection refused")))
        #expect(await prober.connect(host: "127.0.0.1", port: port, timeout: 2, device: nil) == nil)
    }

    @Test("a listener whose accept queue is full drops the SYN: the probe times out")
    func timeout() async throws {
        let (result, elapsed) = try await Listener.probeWithFullQueue(prober, timeout: 0.5)
        #expect(result == .failure(TCPProber.Failure(step: "connect", reason: "timed out after 0.5 s")))
        // it waited for its timeout (a hang is caught by the suite's time limit: other tests that
        // block the cooperative pool make any wall-clock upper bound flaky)
        #expect(elapsed >= .milliseconds(480))
    }

    @Test("through a named NIC: lo reaches loopback, an unknown NIC is refused by the kernel")
    func boundToDevice() async throws {
        let listener = try Listener(family: AF_INET)
        #expect(await prober.connect(host: "127.0.0.1", port: listener.port, timeout: 2, device: "lo") != nil)
        let result = await prober.probe(host: "127.0.0.1", port: listener.port, timeout: 2, device: "sanpath-no-nic0")
        #expect(result == .failure(TCPProber.Failure(step: "bind to NIC sanpath-no-nic0", reason: "No such device")))
    }

    @Test("a name that does not resolve fails at resolution")
    func unresolvable() async {
        let result = await prober.probe(host: "sanpath-no-such-host.invalid", port: 3260, timeout: 2, device: nil)
        guard case .failure(let failure) = result else {
            Issue.record("resolved a .invalid name")
            return
        }
        #expect(failure.step == "resolve")
    }
}

/// A TCP listener on loopback with a kernel-chosen port.
final class Listener {
    let fd: Int32
    let port: Int

    /// Listens on `port` (0: the kernel's choice), with SO_REUSEADDR.
    init(family: Int32, backlog: Int32 = 16, port requested: Int = 0) throws {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var storage = sockaddr_storage()
        var length: socklen_t
        if family == AF_INET6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_addr = in6addr_loopback
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeBytes(of: &addr) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = in_port_t(UInt16(requested).bigEndian)
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeBytes(of: &addr) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
        }
        let bound = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let code = POSIXErrorCode(rawValue: errno) ?? .EINVAL
            close(fd)
            throw POSIXError(code)
        }
        var actual = sockaddr_storage()
        var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        // sin_port and sin6_port sit at the same offset, in network byte order.
        let networkPort = withUnsafeBytes(of: &actual) { $0.load(fromByteOffset: 2, as: UInt16.self) }
        port = Int(UInt16(bigEndian: networkPort))
    }

    deinit { close(fd) }

    /// A port that was just free: bound, then closed.
    static func freedPort() throws -> Int {
        try Listener(family: AF_INET).port
    }

    /// Probes a listener whose accept queue is full (backlog 0 holds one connection), so the
    /// kernel drops the probe's SYN; what the probe said and how long it took.
    static func probeWithFullQueue(_ prober: TCPProber, timeout: Double) async throws -> (Result<Double, TCPProber.Failure>, Duration) {
        let listener = try Listener(family: AF_INET, backlog: 0)
        var fillers: [Int32] = []
        defer { fillers.forEach { close($0) } }
        for _ in 0..<4 { fillers.append(try connectBlocking(port: listener.port)) }
        let start = ContinuousClock.now
        let result = await prober.probe(host: "127.0.0.1", port: listener.port, timeout: timeout, device: nil)
        return (result, ContinuousClock.now - start)
    }

    /// Whether ::1 can be bound here.
    static var ipv6Loopback: Bool { (try? Listener(family: AF_INET6)) != nil }

    /// A blocking connect (with a 1 s send timeout so a dropped SYN does not hang the test).
    static func connectBlocking(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        // Give the handshake a moment; connections beyond the queue simply stay in SYN_SENT.
        usleep(50_000)
        return fd
    }
}
