import Foundation
import Logging
import SanpathCore
import SanpathHealth
import SanpathTestSupport
import Testing

@testable import SanpathSystem

@Suite("snapshot collector over fakes of captured lines")
struct SnapshotCollectorTests {
    static let logger = Logger(label: "test")
    static let emptySys = SysfsReader(root: "/nonexistent/sys")
    static let noIfaces = IfaceFilesReader(directories: ["/nonexistent/ifaces"])

    /// A collector over `dm` with no disks, no iface files, and `multipathd`.
    static func collector(_ dm: any DeviceMapperSource, multipathd: (any MultipathdClient)? = nil) -> SnapshotCollector {
        SnapshotCollector(deviceMapper: dm, sysfs: emptySys, ifaceFiles: noIfaces, multipathd: multipathd, logger: logger)
    }

    /// The lab demo's healthy map, as device-mapper would list it.
    static func demoDM() throws -> FakeDeviceMapper {
        let (status, table) = try Fixture.demoMap()
        let device = DMDevice(name: "mpatha", uuid: "mpath-36001405ab5e1ab000000000000000000", majorMinor: "253:0", openCount: 0)
        return FakeDeviceMapper(maps: [.init(device: device, status: status, table: table)])
    }

    /// The rr map of the lab's dm-lines in one section.
    static func rr(_ section: String) throws -> FakeDeviceMapper.Map {
        let lines = try #require(try Fixture.dmLines()[section])
        return FakeDeviceMapper.Map(
            device: DMDevice(name: "rr", uuid: "mpath-rr", majorMinor: "254:0", openCount: 0),
            status: try #require(lines.status["rr"]), table: try #require(lines.table["rr"]))
    }

    @Test("checker states from multipathd's JSON land on the paths they belong to")
    func checkerStates() async throws {
        let collector = Self.collector(try Self.demoDM(), multipathd: try #require(try CapturedMultipathd.captured(pathsReply: nil, mapsJSON: try Fixture.demoMapsJSON())))
        let collection = try await collector.timedCollect()
        let map = try #require(collection.snapshot.maps.first)
        #expect(map.name == "mpatha" && map.wwid == "36001405ab5e1ab000000000000000000")
        #expect(map.paths.map(\.majorMinor) == ["8:16", "8:0"])
        #expect(map.paths.map(\.checkerState) == ["ready", "ready"])
        #expect(collection.snapshot.multipathdRunning == true)
        // measured (no wall-clock bound: other tests that block the cooperative pool make one flaky)
        #expect(collection.duration > .zero)
    }

    @Test("multipathd stopped: running false and no checker state; multipathd answering 'fail': running, no state")
    func multipathdDown() async throws {
        let stopped = Self.collector(try Self.demoDM(), multipathd: CapturedMultipathd(replies: nil))
        let snapshot = try await stopped.collect()
        #expect(snapshot.multipathdRunning == false)
        #expect(snapshot.maps.first?.paths.allSatisfy { $0.checkerState == nil } == true)
        let failing = Self.collector(try Self.demoDM(), multipathd: CapturedMultipathd(replies: [:]))
        #expect(try await failing.collect().multipathdRunning == true)
        let unasked = Self.collector(try Self.demoDM())
        #expect(try await unasked.collect().multipathdRunning == nil)
    }

    @Test("a map listed but gone before its status is read is left out, not an error")
    func vanishedMap() async throws {
        let dm = VanishingDeviceMapper(real: try Self.demoDM(), ghost: "mpathb")
        let collector = Self.collector(dm)
        #expect(try await collector.collect().maps.map(\.name) == ["mpatha"])
    }

    @Test("refresh re-reads one map's status: a path failing and coming back, checker states kept")
    func refreshStatus() async throws {
        let dm = FakeDeviceMapper(maps: [try Self.rr("rr and st reinstated")])
        let collector = Self.collector(dm)
        var snapshot = try await collector.collect()
        #expect(snapshot.maps[0].validPaths == 1)
        snapshot.maps[0].groups[0].paths[1].checkerState = "ready"
        try await dm.setStatus(try Self.rr("created: all paths active").status, of: "rr")
        let failed = try await collector.refresh(mapNamed: "rr", in: snapshot)
        #expect(failed.maps[0].validPaths == 0)
        #expect(failed.maps[0].groups[0].paths[1].kernelState == .failed)
        #expect(failed.maps[0].groups[0].paths[1].checkerState == "ready")
        #expect(failed.time >= snapshot.time)
    }

    @Test("a full scan parses a map again only when device-mapper's reading of it changed")
    func parsedMapsByReading() async throws {
        let dm = FakeDeviceMapper(maps: [try Self.rr("rr and st reinstated")])
        let collector = Self.collector(dm)
        let first = try await collector.collect()
        let reading = try #require(try await dm.multipathMaps().first)
        #expect(collector.parsedMaps.map(of: reading, sysfsName: nil) == first.maps[0])
        #expect(try await collector.collect().maps == first.maps)
        // the status changed (a path failed): another reading, parsed afresh
        try await dm.setStatus(try Self.rr("created: all paths active").status, of: "rr")
        let failed = try await collector.collect()
        #expect(failed.maps[0].validPaths == 0 && first.maps[0].validPaths == 1)
        #expect(collector.parsedMaps.map(of: reading, sysfsName: nil) == nil)
        // the same text under another identity (the map re-created with another uuid) is not the same map
        var other = try #require(try await dm.multipathMaps().first)
        other.device.uuid = "mpath-other"
        #expect(collector.parsedMaps.map(of: other, sysfsName: nil) == nil)
        // a map gone is forgotten
        let failedReading = try #require(try await dm.multipathMaps().first)
        #expect(collector.parsedMaps.map(of: failedReading, sysfsName: nil) == failed.maps[0])
        await dm.remove("rr")
        #expect(try await collector.collect().maps.isEmpty)
        #expect(collector.parsedMaps.map(of: failedReading, sysfsName: nil) == nil)
    }

    @Test("refresh of a reloaded map reads the table again; of a removed map drops it; of a new map adds it")
    func refreshReloadRemoveAdd() async throws {
        let dm = try Self.demoDM()
        let collector = Self.collector(dm)
        let snapshot = try await collector.collect()
        // The same name reloaded with other paths (the rr lines: 4 paths, round-robin).
        var reloaded = try Self.rr("rr and st reinstated")
        reloaded.device.name = "mpatha"
        await dm.set(reloaded)
        let afterReload = try await collector.refresh(mapNamed: "mpatha", in: snapshot)
        #expect(afterReload.maps[0].paths.count == 4)
        #expect(afterReload.maps[0].groups[0].selector == "round-robin 0")
        await dm.remove("mpatha")
        #expect(try await collector.refresh(mapNamed: "mpatha", in: afterReload).maps.isEmpty)
        await dm.set(try Self.rr("created: all paths active"))
        let added = try await collector.refresh(mapNamed: "rr", in: afterReload)
        #expect(added.maps.map(\.name) == ["mpatha", "rr"])
    }

    @Test("a status line device-mapper garbles is an error naming the map")
    func garbledStatus() async throws {
        let dm = try Self.demoDM()
        let collector = Self.collector(dm)
        let snapshot = try await collector.collect()
        try await dm.setStatus("2 0 1 0 1 1 A 0 2 2 8:16 X 0 0 1 8:0 A 0 0 1", of: "mpatha")
        let error = try await #require(throws: SanpathError.self) { try await collector.refresh(mapNamed: "mpatha", in: snapshot) }
        #expect(error.message.contains("dm status of map 'mpatha'"))
    }

    @Test("dmsetup output lines: only multipath targets, by map name")
    func dmsetupOutput() throws {
        let lines = Fixture.section("dmsetup status / table", of: try Fixture.text("examples/demo-states.txt"))
        let status = FakeDeviceMapper.multipathParams(dmsetupOutput: lines[0])
        #expect(status == ["mpatha": "2 0 1 0 1 1 A 0 2 2 8:16 A 0 0 1 8:0 A 0 0 1 "])
        #expect(FakeDeviceMapper.multipathParams(dmsetupOutput: "vg-root: 0 1024 linear 8:2 2048\nNo devices found\n").isEmpty)
    }
}

/// Lists one map more than it can read: a map removed between the list and the status ioctl.
struct VanishingDeviceMapper: DeviceMapperSource {
    let real: FakeDeviceMapper
    let ghost: String

    func multipathDevices() async throws -> [DMDevice] {
        try await real.multipathDevices() + [DMDevice(name: ghost, uuid: "mpath-\(ghost)", majorMinor: "253:9", openCount: 0)]
    }
    func status(of name: String) async throws -> String { try await real.status(of: name) }
    func table(of name: String) async throws -> String { try await real.table(of: name) }
}
