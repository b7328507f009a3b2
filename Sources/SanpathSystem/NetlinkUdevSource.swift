#if os(Linux)
import CLibUdev
import Foundation
import Glibc
import Logging
import SanpathCore
import Synchronization

/// Block-device events from a libudev netlink monitor, read on a thread of its own with `poll()`
/// so that waiting never holds a thread of the cooperative pool.
///
/// The kernel source (`"kernel"`, the default) delivers uevents the moment the kernel sends them,
/// dm's `DM_ACTION=PATH_FAILED|PATH_REINSTATED` included; the udev source (`"udev"`) delivers them
/// after udevd ran its rules, as multipathd listens. When events are lost, because the socket's
/// receive buffer overflowed (ENOBUFS) or the consumer fell `bufferLimit` events behind, the
/// stream yields `.overflow` once the consumer can take it, so the caller re-reads everything.
public struct NetlinkUdevSource: UdevEventSource {
    /// Which netlink multicast group to listen to.
    public enum Source: String, Sendable {
        /// Raw kernel uevents.
        case kernel
        /// Events re-sent by udevd after its rules ran.
        case udev
    }

    /// The netlink group.
    public var source: Source
    /// The subsystem to keep (`block`).
    public var subsystem: String
    /// The socket's receive buffer in bytes (set with SO_RCVBUFFORCE; multipathd uses 128 MiB).
    public var receiveBufferSize: Int
    /// How many events may wait for the consumer before the rest are dropped and `.overflow` is reported.
    public var bufferLimit: Int
    /// Where setup failures and lost events are logged.
    public var logger: Logger

    /// Creates a source.
    public init(
        source: Source = .kernel, subsystem: String = "block", receiveBufferSize: Int = 128 * 1024 * 1024,
        bufferLimit: Int = 65_536, logger: Logger
    ) {
        self.source = source
        self.subsystem = subsystem
        self.receiveBufferSize = receiveBufferSize
        self.bufferLimit = bufferLimit
        self.logger = logger
    }

    /// Whether this kernel and this process can listen to uevents: a monitor on `source` can be
    /// opened and bound (a tiny buffer, closed at once).
    public static func isAvailable(source: Source = .kernel) -> Bool {
        (try? UdevMonitor(source: source, subsystem: "block", receiveBufferSize: 4096)) != nil
    }

    /// Events until the consuming task is cancelled. If the monitor cannot be set up, the reason
    /// is logged as an error and the stream ends at once; `monitor()` throws it instead.
    public func events() -> AsyncStream<UdevStreamItem> {
        do {
            return try monitor()
        } catch {
            logger.error("cannot listen to udev events", metadata: ["error": "\(error)"])
            return AsyncStream { $0.finish() }
        }
    }

    /// Opens the monitor now and returns its events; throws when libudev or the kernel refuses.
    public func monitor() throws -> AsyncStream<UdevStreamItem> {
        let monitor = try UdevMonitor(source: source, subsystem: subsystem, receiveBufferSize: receiveBufferSize)
        return Self.stream(reading: monitor, bufferLimit: bufferLimit, logger: logger)
    }

    /// Starts the reading thread of an open monitor.
    static func stream(reading monitor: UdevMonitor, bufferLimit: Int, logger: Logger) -> AsyncStream<UdevStreamItem> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: UdevStreamItem.self, bufferingPolicy: .bufferingOldest(max(bufferLimit, 1)))
        continuation.onTermination = { _ in monitor.stop() }
        let thread = Thread {
            monitor.read(into: continuation, logger: logger)
            continuation.finish()
        }
        thread.name = "sanpath-udev"
        thread.start()
        return stream
    }
}

/// The libudev context and its netlink monitor, plus the eventfd that wakes the reading thread
/// to stop. Owned by the reading thread and the stream's termination handler; freed with the last.
final class UdevMonitor: @unchecked Sendable {
    private let udev: OpaquePointer
    private let monitor: OpaquePointer
    /// A pipe: writing to `wakeWrite` makes `wakeRead` readable and the poll return.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    let source: NetlinkUdevSource.Source

    init(source: NetlinkUdevSource.Source, subsystem: String, receiveBufferSize: Int) throws {
        guard let udev = udev_new() else {
            throw SanpathError(.udev, "libudev could not create a context: \(String(cString: strerror(errno)))")
        }
        guard let monitor = udev_monitor_new_from_netlink(udev, source.rawValue) else {
            let reason = String(cString: strerror(errno))
            udev_unref(udev)
            throw SanpathError(
                .kernelFeatureMissing,
                "cannot open a uevent netlink socket (\(source.rawValue)): \(reason); the kernel or the container may not allow it")
        }
        var wake: [Int32] = [-1, -1]
        var failure: String?
        if pipe(&wake) < 0 || wake.contains(where: { fcntl($0, F_SETFD, FD_CLOEXEC) < 0 }) {
            failure = "pipe: \(String(cString: strerror(errno)))"
        } else if udev_monitor_filter_add_match_subsystem_devtype(monitor, subsystem, nil) < 0 {
            failure = "cannot filter on subsystem '\(subsystem)'"
        } else if udev_monitor_set_receive_buffer_size(monitor, Int32(clamping: receiveBufferSize)) < 0 {
            failure = "cannot set a \(receiveBufferSize)-byte receive buffer (SO_RCVBUFFORCE needs CAP_NET_ADMIN)"
        } else if udev_monitor_enable_receiving(monitor) < 0 {
            failure = "cannot bind the netlink socket: \(String(cString: strerror(errno)))"
        }
        if let failure {
            for fd in wake where fd >= 0 { close(fd) }
            udev_monitor_unref(monitor)
            udev_unref(udev)
            throw SanpathError(.udev, "cannot set up the udev monitor (\(source.rawValue), \(subsystem)): \(failure)")
        }
        self.udev = udev
        self.monitor = monitor
        self.wakeRead = wake[0]
        self.wakeWrite = wake[1]
        self.source = source
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
        udev_monitor_unref(monitor)
        udev_unref(udev)
    }

    /// Wakes the reading thread so it returns.
    func stop() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Reads until `stop()`; yields events, and `.overflow` after any loss.
    func read(into continuation: AsyncStream<UdevStreamItem>.Continuation, logger: Logger) {
        let socketFD = udev_monitor_get_fd(monitor)
        var lost = false
        var fds = [
            pollfd(fd: socketFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            // While a loss is still unreported (the consumer's buffer is full), look again every 50 ms.
            let ready = poll(&fds, nfds_t(fds.count), lost ? 50 : -1)
            if ready < 0 {
                if errno == EINTR { continue }
                logger.error("udev monitor poll failed; no more events", metadata: ["error": "\(String(cString: strerror(errno)))"])
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else {
                if lost, case .enqueued = continuation.yield(.overflow) { lost = false }
                continue
            }
            // Drain what is queued; libudev returns NULL with EAGAIN when the socket is empty.
            while true {
                errno = 0
                guard let device = udev_monitor_receive_device(monitor) else {
                    let code = errno
                    if code == ENOBUFS {
                        logger.warning("the kernel dropped udev events (receive buffer overflow); state must be re-read")
                        lost = true
                        continue
                    }
                    if code != EAGAIN && code != EWOULDBLOCK && code != 0 && code != EINTR {
                        logger.debug("udev message skipped", metadata: ["error": "\(String(cString: strerror(code)))"])
                        continue
                    }
                    break
                }
                let received = MonotonicClock.now()
                let event = Self.event(from: device, received: received)
                udev_device_unref(device)
                if lost {
                    if case .dropped = continuation.yield(.overflow) { continue }
                    lost = false
                }
                if case .dropped = continuation.yield(.event(event)) {
                    if !lost { logger.warning("udev events are arriving faster than they are handled; dropping until caught up") }
                    lost = true
                }
            }
            if lost, case .enqueued = continuation.yield(.overflow) { lost = false }
        }
    }

    private static func event(from device: OpaquePointer, received: Double) -> UdevEvent {
        var properties: [String: String] = [:]
        var entry = udev_device_get_properties_list_entry(device)
        while let current = entry {
            if let name = udev_list_entry_get_name(current) {
                properties[String(cString: name)] = udev_list_entry_get_value(current).map { String(cString: $0) } ?? ""
            }
            entry = udev_list_entry_get_next(current)
        }
        let action = udev_device_get_action(device).map { String(cString: $0) } ?? properties["ACTION"] ?? ""
        let sysname = udev_device_get_sysname(device).map { String(cString: $0) } ?? ""
        return UdevEvent(action: action, sysname: sysname, properties: properties, receivedMonotonic: received)
    }
}
#endif
