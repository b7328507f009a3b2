import CSanpathShims
import Foundation
import Glibc
import Logging
import SanpathCore
import SanpathHealth
import Synchronization
import SanpathTestSupport
import Testing

@testable import SanpathSystem

@Suite("libdevmapper", .serialized)
struct DeviceMapperTests {
    @Test("without device-mapper in the kernel, every call is refused before libdevmapper is touched", .enabled(if: !LibDevmapper.isAvailable))
    func refusesWithoutDeviceMapper() async throws {
        let dm = LibDevmapper(logger: Logger(label: "test"))
        for call in ["list", "status", "table"] {
            let error = try await #require(throws: SanpathError.self) {
                switch call {
                case "list": _ = try await dm.multipathDevices()
                case "status": _ = try await dm.status(of: "mpatha")
                default: _ = try await dm.table(of: "mpatha")
                }
            }
            #expect(error.code == .kernelFeatureMissing)
            #expect(error.message.contains("/sys/class/misc/device-mapper is absent"))
            #expect(error.message.contains("modprobe dm_multipath"))
        }
        #expect(!FileManager.default.fileExists(atPath: "/dev/mapper/control"))
    }

    /// A reply as the kernel lays it out (linux/dm-ioctl.h: struct dm_ioctl is 312 bytes, data at
    /// data_start; a DM_TABLE_STATUS reply is dm_target_spec records of 40 bytes, each followed by its
    /// parameters and `next` the offset of the following one from the data start; a DM_LIST_DEVICES
    /// reply is dm_name_list records, `next` from the record itself, 0 on the last).
    static func reply(size: Int = 1024, targets: Int = 0, dev: UInt64 = 0, uuid: String = "", data: [UInt8]) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: size)
        func put32(_ value: UInt32, at offset: Int) { withUnsafeBytes(of: value.littleEndian) { buffer.replaceSubrange(offset..<offset + 4, with: $0) } }
        put32(UInt32(312 + data.count), at: 12)  // data_size: what the kernel used
        put32(312, at: 16)  // data_start
        put32(UInt32(targets), at: 20)
        put32(3, at: 24)  // open_count
        put32(7, at: 32)  // event_nr
        withUnsafeBytes(of: dev.littleEndian) { buffer.replaceSubrange(40..<48, with: $0) }
        buffer.replaceSubrange(176..<176 + uuid.utf8.count, with: Array(uuid.utf8))
        buffer.replaceSubrange(312..<312 + data.count, with: data)
        return buffer
    }

    static func spec(type: String, params: String, next: UInt32) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 40)
        withUnsafeBytes(of: next.littleEndian) { bytes.replaceSubrange(20..<24, with: $0) }
        bytes.replaceSubrange(24..<24 + type.utf8.count, with: Array(type.utf8))
        return bytes + Array(params.utf8) + [0]
    }

    @Test("the straight ioctls' replies: identity, first target's type and parameters, device names; nothing read past the reply")
    func ioctlReplies() throws {
        let status = "2 0 0 0 1 1 A 0 2 0 8:16 A 0 8:0 A 0"
        var first = Self.spec(type: "multipath", params: status, next: 0)
        first += [UInt8](repeating: 0, count: (8 - first.count % 8) % 8)
        let next = UInt32(first.count)
        first.replaceSubrange(20..<24, with: withUnsafeBytes(of: next.littleEndian) { Array($0) })
        let buffer = Self.reply(targets: 2, dev: UInt64(253 << 8 | 5), uuid: "mpath-36001405", data: first + Self.spec(type: "linear", params: "8:0 0", next: 0))
        buffer.withUnsafeBytes { raw in
            var info = sanpath_dm_info()
            sanpath_dm_info_of(raw.baseAddress, &info)
            #expect(info.major == 253 && info.minor == 5 && info.open_count == 3 && info.event_nr == 7 && info.target_count == 2)
            #expect(info.uuid.map { String(cString: $0) } == "mpath-36001405")
            var type: UnsafePointer<CChar>? = nil
            var params: UnsafePointer<CChar>? = nil
            #expect(sanpath_dm_target(raw.baseAddress, UInt32(raw.count), 0, &type, &params) == 0)
            #expect(type.map { String(cString: $0) } == "multipath" && params.map { String(cString: $0) } == status)
            #expect(sanpath_dm_target(raw.baseAddress, UInt32(raw.count), 1, &type, &params) == 0)
            #expect(type.map { String(cString: $0) } == "linear" && params.map { String(cString: $0) } == "8:0 0")
            #expect(sanpath_dm_target(raw.baseAddress, UInt32(raw.count), 2, &type, &params) == -1)
            // parameters cut off by the end of the buffer (no NUL inside it): refused, not read past
            #expect(sanpath_dm_target(raw.baseAddress, UInt32(312 + 40 + 5), 0, &type, &params) == -1)
        }
        // a `next` that points back: refused
        let loop = Self.reply(targets: 2, data: Self.spec(type: "multipath", params: status, next: 0))
        loop.withUnsafeBytes { raw in
            var type: UnsafePointer<CChar>? = nil
            var params: UnsafePointer<CChar>? = nil
            #expect(sanpath_dm_target(raw.baseAddress, UInt32(raw.count), 1, &type, &params) == -1)
        }
        // names: dev, next (from the record), name; the kernel leaves more after the name (event_nr, uuid)
        func record(_ name: String, dev: UInt64, last: Bool) -> [UInt8] {
            var bytes = withUnsafeBytes(of: dev.littleEndian) { Array($0) } + [0, 0, 0, 0] + Array(name.utf8) + [0] + [UInt8](repeating: 0, count: 8)
            bytes += [UInt8](repeating: 0, count: (8 - bytes.count % 8) % 8)
            if !last { bytes.replaceSubrange(8..<12, with: withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { Array($0) }) }
            return bytes
        }
        let list = Self.reply(data: record("mpathb", dev: 253 << 8 | 1, last: false) + record("mpatha", dev: 253 << 8, last: true))
        list.withUnsafeBytes { raw in
            var cursor: UInt32 = 0
            var names: [String] = []
            while let name = sanpath_dm_list_next(raw.baseAddress, UInt32(raw.count), &cursor) { names.append(String(cString: name)) }
            #expect(names == ["mpathb", "mpatha"])
        }
        // no devices: the kernel writes one record with dev 0
        Self.reply(data: [UInt8](repeating: 0, count: 16)).withUnsafeBytes { raw in
            var cursor: UInt32 = 0
            #expect(sanpath_dm_list_next(raw.baseAddress, UInt32(raw.count), &cursor) == nil)
        }
    }

    @Test("libdevmapper's printf-style messages arrive formatted in swift-log, errors kept for the next thrown error")
    func logAdapter() throws {
        let records = RecordingLogHandler.Records()
        DeviceMapperLog.route(to: Logger(label: "dm") { _ in RecordingLogHandler(records: records) })
        defer { DeviceMapperLog.route(to: Logger(label: "sanpath.devmapper")) }
        "mpatha".withCString { name in
            withVaList([name, 6 as Int32]) {
                sanpath_dm_log_vemit(
                    SANPATH_DM_LOG_ERR | 128, "ioctl/libdm-iface.c", 1927, ENXIO, "device-mapper: status ioctl on %s failed: errno %d", $0)
            }
        }
        withVaList([3 as Int32]) { sanpath_dm_log_vemit(SANPATH_DM_LOG_DEBUG, "libdm-common.c", 12, 0, "dm version %d", $0) }
        // Only this test's two messages: anything else libdevmapper logged is not ours to count.
        let logged = records.all.filter { $0.metadata["dm_source"] == "ioctl/libdm-iface.c:1927" || $0.metadata["dm_source"] == "libdm-common.c:12" }
        #expect(logged.count == 2)
        #expect(logged.first?.level == .error)
        #expect(logged.first?.message == "device-mapper: status ioctl on mpatha failed: errno 6")
        #expect(logged.first?.metadata["dm_source"] == "ioctl/libdm-iface.c:1927")
        #expect(logged.first?.metadata["errno"] == "\(ENXIO)")
        #expect(logged.last?.level == .trace)
        #expect(logged.last?.message == "dm version 3")
        #expect(DeviceMapperLog.shared.withLock { $0.lastError } == "device-mapper: status ioctl on mpatha failed: errno 6")
    }

    // In the lab guest (real device-mapper, maps made by multipathd): what libdevmapper gives
    // must match what dmsetup prints for the same maps.
    @Test(
        "lab: multipath maps, their status and table agree with dmsetup",
        .enabled(if: LibDevmapper.isAvailable && getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/sbin/dmsetup")))
    func matchesDmsetup() async throws {
        let dm = LibDevmapper(logger: Logger(label: "test"))
        let devices = try await dm.multipathDevices()
        let status = FakeDeviceMapper.multipathParams(dmsetupOutput: try Self.run("/sbin/dmsetup", "status", "--target", "multipath"))
        let table = FakeDeviceMapper.multipathParams(dmsetupOutput: try Self.run("/sbin/dmsetup", "table", "--target", "multipath"))
        #expect(Set(devices.map(\.name)) == Set(status.keys))
        for device in devices {
            #expect(device.uuid.hasPrefix("mpath-"))
            #expect(device.majorMinor == (try Self.run("/sbin/dmsetup", "info", "-c", "--noheadings", "-o", "major,minor", "--separator", ":", device.name))
                .trimmingWhitespace())
            let ourStatus = try await dm.status(of: device.name)
            #expect(ourStatus.trimmingWhitespace() == status[device.name]?.trimmingWhitespace())
            #expect(try await dm.table(of: device.name).trimmingWhitespace() == table[device.name]?.trimmingWhitespace())
            _ = try MultipathMap(device: device, status: ourStatus, table: try await dm.table(of: device.name))
        }
        let missing = try await #require(throws: SanpathError.self) { try await dm.status(of: "sanpath-no-such-map") }
        #expect(missing.code == .mapNotFound)
    }

    static func run(_ path: String, _ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// A log handler that keeps every record, for assertions on logs.
struct RecordingLogHandler: LogHandler {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    final class Records: Sendable {
        private let storage = Mutex<[Record]>([])
        var all: [Record] { storage.withLock { $0 } }
        func append(_ record: Record) { storage.withLock { $0.append(record) } }
    }

    let records: Records
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        records.append(Record(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}
