import Foundation
import Glibc
import Logging
import Testing

@testable import SanpathSystem

/// The real netlink monitor. It needs a kernel that sends uevents to this process (not every
/// container does) and root, to ask the kernel for events by writing `change` to a block
/// device's `uevent` (loop0 on a developer host, sda in the lab guest).
@Suite("udev netlink monitor", .enabled(if: UeventTrigger.available), .timeLimit(.minutes(1)))
struct UdevTests {
    static let device = UeventTrigger.device ?? "loop0"

    static func trigger(_ action: String = "change") throws {
        let fd = open("/sys/block/\(device)/uevent", O_WRONLY)
        guard fd >= 0 else { throw POSIXError(.EACCES) }
        defer { close(fd) }
        guard write(fd, action, action.utf8.count) == action.utf8.count else { throw POSIXError(.EIO) }
    }

    static func openFDs() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    @Test("a kernel change uevent arrives with its properties and a monotonic receipt time")
    func kernelEvent() async throws {
        let source = NetlinkUdevSource(logger: Logger(label: "test"))
        let stream = try source.monitor()
        let before = MonotonicClock.now()
        try Self.trigger()
        var iterator = stream.makeAsyncIterator()
        var event: UdevEvent?
        while let item = await iterator.next() {
            if case .event(let received) = item, received.sysname == Self.device {
                event = received
                break
            }
        }
        let received = try #require(event)
        #expect(received.action == "change")
        #expect(received.properties["ACTION"] == "change")
        #expect(received.properties["SUBSYSTEM"] == "block")
        #expect(received.properties["DEVNAME"] == "/dev/\(Self.device)" || received.properties["DEVNAME"] == Self.device)
        #expect(received.properties["SEQNUM"].flatMap { Int($0) } != nil)
        #expect(received.receivedMonotonic >= before && received.receivedMonotonic <= MonotonicClock.now())
    }

    @Test("more events than the socket buffer holds: the kernel says ENOBUFS and the stream says .overflow")
    func socketOverflow() async throws {
        // The smallest buffer the kernel allows, filled before the reading thread starts.
        let monitor = try UdevMonitor(source: .kernel, subsystem: "block", receiveBufferSize: 1)
        for _ in 0..<300 { try Self.trigger() }
        let stream = NetlinkUdevSource.stream(reading: monitor, bufferLimit: 65_536, logger: Logger(label: "test"))
        var events = 0
        for await item in stream {
            if case .overflow = item { break }
            events += 1
        }
        #expect(events < 300)
    }

    @Test("a consumer that falls behind the buffer limit gets .overflow once it catches up")
    func consumerOverflow() async throws {
        let monitor = try UdevMonitor(source: .kernel, subsystem: "block", receiveBufferSize: 16 * 1024 * 1024)
        let stream = NetlinkUdevSource.stream(reading: monitor, bufferLimit: 5, logger: Logger(label: "test"))
        for _ in 0..<50 { try Self.trigger() }
        try await Task.sleep(for: .milliseconds(300))
        var items: [UdevStreamItem] = []
        for await item in stream {
            items.append(item)
            if item == .overflow { break }
        }
        #expect(items.count == 6)
        #expect(items.last == .overflow)
    }

    @Test("cancelling the consumer stops the reading thread and closes the netlink socket")
    func cancellation() async throws {
        let baseline = Self.openFDs()
        let source = NetlinkUdevSource(logger: Logger(label: "test"))
        let stream = try source.monitor()
        #expect(Self.openFDs() > baseline)
        let consumer = Task {
            var count = 0
            for await _ in stream { count += 1 }
            return count
        }
        try Self.trigger()
        try await Task.sleep(for: .milliseconds(100))
        consumer.cancel()
        _ = await consumer.value
        // The thread sees the wake-up, returns, and the last reference frees the monitor.
        var closed = false
        for _ in 0..<100 where !closed {
            try await Task.sleep(for: .milliseconds(20))
            closed = Self.openFDs() <= baseline
        }
        #expect(closed, "udev monitor descriptors still open after cancellation")
    }
}

/// Whether uevents can be both asked for and received here.
enum UeventTrigger {
    /// The first block device whose `uevent` this process may write.
    static let device: String? = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []).sorted()
        .first { access("/sys/block/\($0)/uevent", W_OK) == 0 }
    static var available: Bool {
        getuid() == 0 && device != nil && NetlinkUdevSource.isAvailable()
    }
}
