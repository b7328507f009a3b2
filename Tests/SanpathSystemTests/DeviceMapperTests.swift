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
