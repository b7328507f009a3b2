import CSanpathShims
import Dispatch
import Logging
import Synchronization
#if os(Linux)
import Glibc
#endif

/// TCP connect probes: SAN management hosts, and portals through one NIC. Non-blocking connect
/// with `poll()`, `SO_BINDTODEVICE` when a NIC is given, IPv4, IPv6 and host names
/// (`getaddrinfo`, every address tried in turn within the one timeout). The blocking parts run on
/// a dispatch queue, never on the cooperative pool.
public struct TCPProber: ConnectProber {
    /// Why a probe failed, for a status line or a log.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// The step that failed: `resolve`, `bind to NIC`, `connect`.
        public var step: String
        /// What the system said (`Connection refused`, `timed out after 2 s`).
        public var reason: String
        /// `step: reason`.
        public var description: String { "\(step): \(reason)" }
    }

    /// Logs each failed probe at debug level.
    public var logger: Logger
    /// Half-open probes to IPv4 addresses: a SYN answered by a SYN-ACK, the connection never
    /// completed (see `sanpath_synprobe.h`: a portal's iSCSI target logs every connect that does
    /// not log in). Without CAP_NET_RAW, or for IPv6, the probe connects.
    public var halfOpen: Bool
    /// The half-open probers kept open between probes, by portal and NIC.
    let openProbers = SynProbers()

    /// Creates a prober.
    public init(logger: Logger, halfOpen: Bool = false) {
        self.logger = logger
        self.halfOpen = halfOpen
    }

    /// The connect time in seconds, or nil when the probe failed.
    public func connect(host: String, port: Int, timeout: Double, device: String?) async -> Double? {
        switch await probe(host: host, port: port, timeout: timeout, device: device) {
        case .success(let seconds):
            return seconds
        case .failure(let failure):
            logger.debug(
                "probe failed",
                metadata: ["host": "\(host)", "port": "\(port)", "nic": "\(device ?? "-")", "reason": "\(failure)"])
            return nil
        }
    }

    /// The connect time in seconds, or why it failed.
    public func probe(host: String, port: Int, timeout: Double, device: String?) async -> Result<Double, Failure> {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                if halfOpen, let address = SynProbers.ipv4(literal: host, port: port) {
                    // a portal is an address: no resolver, and the prober's sockets stay open
                    let start = MonotonicClock.now()
                    let result = openProbers.probe(address, device: device, timeout: timeout)
                    continuation.resume(returning: result.map { MonotonicClock.now() - start })
                    return
                }
                continuation.resume(returning: Self.probeBlocking(host: host, port: port, timeout: timeout, device: device, halfOpen: halfOpen))
            }
        }
    }

    /// The probe on the calling thread (it blocks up to `timeout`): the connect time, or why it failed.
    public static func probeBlocking(host: String, port: Int, timeout: Double, device: String?, halfOpen: Bool = false) -> Result<Double, Failure> {
        let start = MonotonicClock.now()
        let deadline = start + timeout
        // Bracketed IPv6 literals ([fe80::1]) as Eucalyptus writes them.
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        // an address (the usual SAN host) first, as a number: AI_ADDRCONFIG would have glibc dump
        // every address of the host over netlink at each probe, for a name only
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        var resolved = getaddrinfo(name, String(port), &hints, &list)
        if resolved == EAI_NONAME {
            hints.ai_flags = AI_ADDRCONFIG
            resolved = getaddrinfo(name, String(port), &hints, &list)
        }
        guard resolved == 0, let first = list else {
            return .failure(Failure(step: "resolve", reason: String(cString: gai_strerror(resolved))))
        }
        defer { freeaddrinfo(first) }
        var failure = Failure(step: "connect", reason: "no address")
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            entry = current.pointee.ai_next
            let result =
                halfOpen && current.pointee.ai_family == AF_INET
                ? synAttempt(current.pointee, device: device, deadline: deadline, timeout: timeout)
                : attempt(current.pointee, device: device, deadline: deadline, timeout: timeout)
            switch result {
            case .success:
                return .success(MonotonicClock.now() - start)
            case .failure(let reason):
                failure = reason
                if MonotonicClock.now() >= deadline { return .failure(failure) }
            }
        }
        return .failure(failure)
    }

    /// One half-open probe of an IPv4 address; a connect attempt when raw sockets are not allowed.
    private static func synAttempt(_ address: addrinfo, device: String?, deadline: Double, timeout: Double) -> Result<Void, Failure> {
        guard let pointer = address.ai_addr, address.ai_addrlen >= socklen_t(MemoryLayout<sockaddr_in>.size) else {
            return attempt(address, device: device, deadline: deadline, timeout: timeout)
        }
        let destination = UnsafeRawPointer(pointer).loadUnaligned(as: sockaddr_in.self)
        var step: UnsafePointer<CChar>?
        var code: Int32 = 0
        guard let prober = sanpath_syn_open([destination], device, &step, &code) else {
            return SynProbers.failure(step: step, code: code, device: device, timeout: timeout) {
                attempt(address, device: device, deadline: deadline, timeout: timeout)
            }
        }
        defer { sanpath_syn_close(prober) }
        let milliseconds = Int32(max(0, ((deadline - MonotonicClock.now()) * 1000).rounded(.up)))
        let result = sanpath_syn_probe_once(prober, milliseconds, &step, &code)
        return result == SANPATH_SYN_OPEN ? .success(()) : SynProbers.failure(result: result, step: step, code: code, device: device, timeout: timeout)
    }

    private static func attempt(_ address: addrinfo, device: String?, deadline: Double, timeout: Double) -> Result<Void, Failure> {
        func failure(_ step: String, _ code: Int32) -> Result<Void, Failure> {
            .failure(Failure(step: step, reason: String(cString: strerror(code))))
        }
        let fd = socket(address.ai_family, address.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), address.ai_protocol)
        guard fd >= 0 else { return failure("socket", errno) }
        defer { close(fd) }
        if let device {
            var bytes = Array(device.utf8)
            bytes.append(0)
            guard setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, bytes, socklen_t(bytes.count)) == 0 else {
                let code = errno
                return .failure(
                    Failure(
                        step: "bind to NIC \(device)",
                        reason: String(cString: strerror(code)) + (code == EPERM ? " (SO_BINDTODEVICE needs CAP_NET_RAW)" : "")))
            }
        }
        if Glibc.connect(fd, address.ai_addr, address.ai_addrlen) == 0 { return .success(()) }
        guard errno == EINPROGRESS else { return failure("connect", errno) }
        while true {
            let remaining = deadline - MonotonicClock.now()
            guard remaining > 0 else {
                return .failure(Failure(step: "connect", reason: "timed out after \(timeout) s"))
            }
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&entry, 1, Int32((remaining * 1000).rounded(.up)))
            if ready < 0 {
                if errno == EINTR { continue }
                return failure("poll", errno)
            }
            if ready == 0 { continue }
            var code: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { return failure("getsockopt", errno) }
            return code == 0 ? .success(()) : failure("connect", code)
        }
    }
}

/// Half-open probers kept open between rounds, one per portal address, port and NIC: a probe is
/// then a send, a poll and a receive instead of three sockets, a route lookup and a filter each
/// time (on an emulated host most of a probe's cost). A prober whose probe failed is closed, so
/// the probe that confirms a failure starts afresh (a NIC's address may have changed).
final class SynProbers: Sendable {
    private struct Key: Hashable {
        var address: UInt32
        var port: UInt16
        var device: String?
    }

    /// An open prober; only the task holding it (taken out of the table) uses it.
    private struct Open: @unchecked Sendable {
        var prober: OpaquePointer
    }

    private let table = Mutex<[Key: Open]>([:])

    deinit {
        table.withLock { open in open.values.forEach { sanpath_syn_close($0.prober) } }
    }

    /// `host` as an IPv4 address with `port`, when it is an IPv4 literal.
    static func ipv4(literal host: String, port: Int) -> sockaddr_in? {
        var address = sockaddr_in()
        guard (0...65_535).contains(port), inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return nil }
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }

    /// Probes through the prober kept for this portal and NIC, opening one when there is none.
    func probe(_ destination: sockaddr_in, device: String?, timeout: Double) -> Result<Void, TCPProber.Failure> {
        let key = Key(address: destination.sin_addr.s_addr, port: destination.sin_port, device: device)
        var step: UnsafePointer<CChar>?
        var code: Int32 = 0
        let kept = table.withLock { $0.removeValue(forKey: key) }
        guard let prober = kept?.prober ?? sanpath_syn_open([destination], device, &step, &code) else {
            return Self.failure(step: step, code: code, device: device, timeout: timeout) {
                TCPProber.probeBlocking(
                    host: String(cString: inet_ntoa(destination.sin_addr)), port: Int(UInt16(bigEndian: destination.sin_port)),
                    timeout: timeout, device: device
                ).map { _ in () }
            }
        }
        let result = sanpath_syn_probe_once(prober, Int32((timeout * 1000).rounded(.up)), &step, &code)
        guard result == SANPATH_SYN_OPEN else {
            sanpath_syn_close(prober)
            return Self.failure(result: result, step: step, code: code, device: device, timeout: timeout)
        }
        let displaced = table.withLock { $0.updateValue(Open(prober: prober), forKey: key) }
        if let displaced { sanpath_syn_close(displaced.prober) }
        return .success(())
    }

    /// Why a probe failed, in the words of the connect probe where they mean the same.
    static func failure(
        result: Int32, step: UnsafePointer<CChar>?, code: Int32, device: String?, timeout: Double
    ) -> Result<Void, TCPProber.Failure> {
        switch result {
        case SANPATH_SYN_REFUSED:
            return .failure(TCPProber.Failure(step: "SYN", reason: "refused (RST: nothing listens on the port)"))
        case SANPATH_SYN_TIMEOUT:
            return .failure(TCPProber.Failure(step: "SYN", reason: "no answer within \(timeout) s"))
        default:
            return failure(step: step, code: code, device: device, timeout: timeout) { .failure(TCPProber.Failure(step: "SYN", reason: "failed")) }
        }
    }

    /// A system call failed; without the right to a raw socket the probe connects instead.
    static func failure(
        step: UnsafePointer<CChar>?, code: Int32, device: String?, timeout: Double, connect: () -> Result<Void, TCPProber.Failure>
    ) -> Result<Void, TCPProber.Failure> {
        let failed = step.map { String(cString: $0) } ?? "SYN"
        if failed == "raw socket", code == EPERM || code == EACCES { return connect() }
        let reason = String(cString: strerror(code)) + (code == EPERM && failed == "bind to NIC" ? " (SO_BINDTODEVICE needs CAP_NET_RAW)" : "")
        return .failure(TCPProber.Failure(step: failed == "bind to NIC" ? "bind to NIC \(device ?? "")" : failed, reason: reason))
    }
}
