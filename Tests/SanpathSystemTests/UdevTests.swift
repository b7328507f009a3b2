import Foundation
import Glibc
import Logging
import SanpathTestSupport
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

    @Test("cancelling the consumer stops the reading thread and frees the monitor")
    func cancellation() async throws {
        weak var freed: UdevMonitor?
        let stream: AsyncStream<UdevStreamItem>
        do {
            let monitor = try UdevMonitor(source: .kernel, subsystem: "block", receiveBufferSize: 1 << 20)
            freed = monitor
            stream = NetlinkUdevSource.stream(reading: monitor, bufferLimit: 64, logger: Logger(label: "test"))
        }
        let consumer = Task {
            var count = 0
            for await _ in stream { count += 1 }
            return count
        }
        try Self.trigger()
        try await Task.sleep(for: .milliseconds(100))
        #expect(freed != nil, "the monitor must live while the stream is read")
        consumer.cancel()
        _ = await consumer.value
        // The thread sees the wake-up and returns; the last reference goes and deinit closes the socket.
        for _ in 0..<100 where freed != nil {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(freed == nil, "udev monitor still alive after the consumer was cancelled")
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

/// In the lab guest only: the payload names a multipath map and one of its active paths
/// (`SANPATH_LAB_MAP`, `SANPATH_LAB_PATH`), and the test fails and reinstates that path with
/// dmsetup while listening, as a dead portal and its return would.
@Suite("udev netlink monitor: dm path events (lab)", .enabled(if: LabPath.given), .timeLimit(.minutes(1)))
struct DMPathEventTests {
    @Test("fail_path and reinstate_path arrive as DM_ACTION=PATH_FAILED and PATH_REINSTATED")
    func pathEvents() async throws {
        let map = try #require(LabPath.map)
        let path = try #require(LabPath.path)
        let stream = try NetlinkUdevSource(logger: Logger(label: "test")).monitor()
        var iterator = stream.makeAsyncIterator()
        func next(_ action: String) async -> UdevEvent? {
            while let item = await iterator.next() {
                if case .event(let event) = item, event.properties["DM_ACTION"] == action { return event }
            }
            return nil
        }
        _ = try DeviceMapperTests.run("/sbin/dmsetup", "message", map, "0", "fail_path", path)
        let failed = try #require(await next("PATH_FAILED"))
        _ = try DeviceMapperTests.run("/sbin/dmsetup", "message", map, "0", "reinstate_path", path)
        let reinstated = try #require(await next("PATH_REINSTATED"))
        for event in [failed, reinstated] {
            #expect(event.action == "change")
            #expect(event.sysname.hasPrefix("dm-"))
            #expect(event.properties["DM_NAME"] == map)
            #expect(event.properties["DM_UUID"]?.hasPrefix("mpath-") == true)
            #expect(event.properties["DM_PATH"] == path)
            #expect(event.properties["DM_NR_VALID_PATHS"].flatMap { Int($0) } != nil)
        }
        #expect(Int(reinstated.properties["DM_NR_VALID_PATHS"] ?? "") == Int(failed.properties["DM_NR_VALID_PATHS"] ?? "")! + 1)
        #expect(reinstated.receivedMonotonic > failed.receivedMonotonic)
    }
}

/// The map and path the lab payload offers for failing.
enum LabPath {
    static let map = ProcessInfo.processInfo.environment["SANPATH_LAB_MAP"]
    static let path = ProcessInfo.processInfo.environment["SANPATH_LAB_PATH"]
    static var given: Bool { map != nil && path != nil && LibDevmapper.isAvailable && getuid() == 0 }
}

@Suite("fake udev source")
struct FakeUdevSourceTests {
    @Test("what is sent reaches every open stream; a cancelled consumer closes its own")
    func sendAndCancel() async throws {
        let source = FakeUdevSource()
        let stream = source.events()
        let event = UdevEvent(
            action: "change", sysname: "dm-0",
            properties: ["DM_ACTION": "PATH_FAILED", "DM_PATH": "8:16", "DM_NAME": "mpatha"], receivedMonotonic: 1)
        source.send(.event(event))
        source.send(.overflow)
        var iterator = stream.makeAsyncIterator()
        #expect(await iterator.next() == .event(event))
        #expect(await iterator.next() == .overflow)
        let consumer = Task { for await _ in source.events() {} }
        while source.listeners < 2 { await Task.yield() }
        consumer.cancel()
        await consumer.value
        #expect(source.listeners == 1)
        source.finish()
        #expect(await iterator.next() == nil)
    }
}
