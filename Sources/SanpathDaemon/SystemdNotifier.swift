#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging
import SanpathCore
import SanpathSystem
import ServiceLifecycle

/// sd_notify without libsystemd: one datagram per message to `$NOTIFY_SOCKET` (a path, or an
/// abstract socket when it starts with `@`). Without `NOTIFY_SOCKET` (not under systemd, or
/// `Type=simple`) every call does nothing and returns false.
public struct SystemdNotifier: Sendable {
    /// The socket from `NOTIFY_SOCKET`, nil when not set.
    public let socketPath: String?

    /// The notifier of this process's environment.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(socketPath: environment["NOTIFY_SOCKET"])
    }

    /// A notifier for a given socket (nil or empty: disabled).
    public init(socketPath: String?) {
        self.socketPath = socketPath.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether systemd listens.
    public var isEnabled: Bool { socketPath != nil }

    /// `READY=1`: start-up is done (after the first full scan), or a reload is.
    @discardableResult
    public func ready(status: String? = nil) throws(SanpathError) -> Bool {
        try send(["READY=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// `STATUS=…`: one line `systemctl status` shows.
    @discardableResult
    public func status(_ text: String) throws(SanpathError) -> Bool {
        try send(["STATUS=\(text)"])
    }

    /// `RELOADING=1` with `MONOTONIC_USEC` (which `Type=notify-reload` wants); `ready` ends it.
    @discardableResult
    public func reloading(status: String? = nil) throws(SanpathError) -> Bool {
        try send(["RELOADING=1", "MONOTONIC_USEC=\(MonotonicClock.microseconds())"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// `STOPPING=1`: shutdown has begun.
    @discardableResult
    public func stopping(status: String? = nil) throws(SanpathError) -> Bool {
        try send(["STOPPING=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// `WATCHDOG=1`: still alive.
    @discardableResult
    public func watchdog() throws(SanpathError) -> Bool {
        try send(["WATCHDOG=1"])
    }

    /// Sends `KEY=value` lines in one datagram; false when systemd does not listen.
    @discardableResult
    public func send(_ assignments: [String]) throws(SanpathError) -> Bool {
        guard let socketPath else { return false }
        let message = assignments.map { $0.replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\n")
        if let failure = sendDatagram(Array(message.utf8), to: socketPath) {
            throw SanpathError(.io, "cannot notify systemd through \(socketPath): \(failure)")
        }
        return true
    }

    /// Half of `WATCHDOG_USEC` (systemd's advice), or nil when the watchdog is off or meant for
    /// another process (`WATCHDOG_PID`).
    public static func watchdogInterval(
        environment: [String: String] = ProcessInfo.processInfo.environment, pid: Int32 = getpid()
    ) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], Int32(owner) != pid { return nil }
        return .microseconds(Int64(clamping: usec / 2))
    }
}

/// Sends one datagram to a unix socket path (`@name`: abstract); the reason on failure.
private func sendDatagram(_ bytes: [UInt8], to path: String) -> String? {
    var pathBytes = Array(path.utf8)
    let abstract = pathBytes.first == UInt8(ascii: "@")
    guard abstract || pathBytes.first == UInt8(ascii: "/") else { return "not a socket path (must start with / or @)" }
    if abstract { pathBytes[0] = 0 }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    // a path needs room for its terminating NUL; an abstract name is counted by length
    guard pathBytes.count + (abstract ? 0 : 1) <= capacity else { return "socket path too long" }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: pathBytes)
    }
    let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + pathBytes.count + (abstract ? 0 : 1))

    #if canImport(Glibc)
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    let flags = Int32(MSG_NOSIGNAL)
    #else
    let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
    let flags: Int32 = 0
    #endif
    guard fd >= 0 else { return "socket: \(String(cString: strerror(errno)))" }
    defer { close(fd) }
    let sent = bytes.withUnsafeBytes { buffer in
        withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                sendto(fd, buffer.baseAddress, buffer.count, flags, sockaddrPointer, length)
            }
        }
    }
    guard sent == bytes.count else { return "sendto: \(String(cString: strerror(errno)))" }
    return nil
}

/// The daemon's side of systemd's service protocol that runs by itself: `WATCHDOG=1` every half
/// `WATCHDOG_USEC` while `alive` says so (a stuck engine stops the pings and systemd restarts
/// the daemon), and `STOPPING=1` when graceful shutdown begins. `READY=1` is the engine's to
/// send, after its first full scan (`SystemdNotifier.ready`).
public struct SystemdNotifyService: Service {
    private let notifier: SystemdNotifier
    private let watchdogInterval: Duration?
    private let alive: @Sendable () async -> Bool
    private let logger: Logger

    /// Pings every `watchdogInterval` (nil: no watchdog) while `alive()` is true.
    public init(
        notifier: SystemdNotifier, watchdogInterval: Duration? = SystemdNotifier.watchdogInterval(),
        alive: @escaping @Sendable () async -> Bool = { true }, logger: Logger
    ) {
        self.notifier = notifier
        self.watchdogInterval = watchdogInterval
        self.alive = alive
        self.logger = logger
    }

    /// Runs until graceful shutdown (or cancellation), then says STOPPING=1.
    public func run() async throws {
        if let interval = watchdogInterval, notifier.isEnabled {
            while !Task.isCancelled, !Task.isShuttingDownGracefully {
                if await alive() {
                    do {
                        try notifier.watchdog()
                    } catch {
                        logger.warning("watchdog ping failed", metadata: ["error": "\(error)"])
                    }
                } else {
                    logger.warning("engine not alive: watchdog ping withheld")
                }
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
                } catch {
                    break
                }
            }
        } else {
            try? await gracefulShutdown()
        }
        do {
            try notifier.stopping(status: "shutting down")
        } catch {
            logger.warning("cannot tell systemd about the shutdown", metadata: ["error": "\(error)"])
        }
    }
}
