import CSanpathShims
import Dispatch
import Logging
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
                continuation.resume(returning: Self.probeBlocking(host: host, port: port, timeout: timeout, device: device, halfOpen: halfOpen))
            }
        }
    }

    static func probeBlocking(host: String, port: Int, timeout: Double, device: String?, halfOpen: Bool = false) -> Result<Double, Failure> {
        let start = MonotonicClock.now()
        let deadline = start + timeout
        // Bracketed IPv6 literals ([fe80::1]) as Eucalyptus writes them.
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(name, String(port), &hints, &list)
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
        var destination = UnsafeRawPointer(pointer).loadUnaligned(as: sockaddr_in.self)
        let milliseconds = Int32(max(0, ((deadline - MonotonicClock.now()) * 1000).rounded(.up)))
        var step: UnsafePointer<CChar>?
        var code: Int32 = 0
        switch sanpath_syn_probe(&destination, device, milliseconds, &step, &code) {
        case SANPATH_SYN_OPEN:
            return .success(())
        case SANPATH_SYN_REFUSED:
            return .failure(Failure(step: "SYN", reason: "refused (RST: nothing listens on the port)"))
        case SANPATH_SYN_TIMEOUT:
            return .failure(Failure(step: "SYN", reason: "no answer within \(timeout) s"))
        default:
            let failed = step.map { String(cString: $0) } ?? "SYN"
            if failed == "raw socket", code == EPERM || code == EACCES {
                return attempt(address, device: device, deadline: deadline, timeout: timeout)
            }
            let reason = String(cString: strerror(code)) + (code == EPERM && failed == "bind to NIC" ? " (SO_BINDTODEVICE needs CAP_NET_RAW)" : "")
            return .failure(Failure(step: failed == "bind to NIC" ? "bind to NIC \(device ?? "")" : failed, reason: reason))
        }
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
