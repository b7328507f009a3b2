import Foundation
import Logging
import SanpathHealth
import SanpathTestSupport
import Testing

@testable import SanpathSystem

/// The lab capture (Fixtures/lab, see its README): 2 NetApp ALUA LUNs and 1 EqualLogic LUN over
/// two iSCSI paths, in three states.
@Suite("lab capture: healthy, degraded, dead")
struct LabFixtureTests {
    static let states = ["healthy", "degraded", "dead"]

    static func sysfs(_ state: String) -> SysfsReader {
        SysfsReader(root: Fixture.root.appendingPathComponent("lab/\(state)/sys").path)
    }

    static func deviceMapper(_ state: String) throws -> FakeDeviceMapper {
        FakeDeviceMapper(
            dmsetupStatus: try Fixture.text("lab/\(state)/dmsetup-status.txt"),
            dmsetupTable: try Fixture.text("lab/\(state)/dmsetup-table.txt"), sysfs: sysfs(state))
    }

    static func collector(_ state: String) throws -> SnapshotCollector {
        SnapshotCollector(
            deviceMapper: try deviceMapper(state), sysfs: sysfs(state),
            ifaceFiles: IfaceFilesReader(root: Fixture.root.appendingPathComponent("lab/\(state)").path),
            multipathd: try #require(try CapturedMultipathd.captured(pathsReply: nil, mapsJSON: try Fixture.text("lab/\(state)/multipathd-show-maps.json"))),
            logger: Logger(label: "test"))
    }

    @Test(
        "dm lines of every map in every state",
        arguments: [
            ("healthy", "mpatha", "queue_if_no_path | E service-time 0: 8:48 A 0 | E service-time 0: 8:16 A 0"),
            ("healthy", "mpathc", "queue_if_no_path | A round-robin 0: 8:80 A 0, 8:64 A 0"),
            ("degraded", "mpatha", "queue_if_no_path | A service-time 0: 8:48 A 0 | E service-time 0: 8:16 F 1"),
            ("degraded", "mpathb", "queue_if_no_path | A service-time 0: 8:32 A 0 | E service-time 0: 8:0 F 1"),
            ("degraded", "mpathc", "queue_if_no_path | A round-robin 0: 8:80 A 0, 8:64 F 1"),
            ("dead", "mpatha", "queue_if_no_path | E service-time 0: 8:48 F 1 | E service-time 0: 8:16 F 2"),
            ("dead", "mpathc", "queue_if_no_path | A round-robin 0: 8:80 F 1, 8:64 F 2"),
        ])
    func dmLines(state: String, map: String, summary: String) async throws {
        let dm = try Self.deviceMapper(state)
        let device = try #require(try await dm.multipathDevices().first { $0.name == map })
        let parsed = try MultipathMap(device: device, status: try await dm.status(of: map), table: try await dm.table(of: map))
        #expect(Fixture.summary(queueing: parsed.queueing, groups: parsed.groups) == summary)
    }

    @Test("map identity from the captured sysfs: dm name, UUID, major:minor, slaves")
    func identities() async throws {
        let devices = try await Self.deviceMapper("healthy").multipathDevices()
        #expect(devices.map(\.name) == ["mpatha", "mpathb", "mpathc"])
        #expect(devices.map(\.majorMinor) == ["254:0", "254:1", "254:2"])
        #expect(devices[2].uuid == "mpath-36001405ab5ee10000000000000000000")
        let sysfs = Self.sysfs("healthy")
        #expect(sysfs.deviceMapperNames() == ["dm-0": "mpatha", "dm-1": "mpathb", "dm-2": "mpathc"])
        #expect(sysfs.slaves(of: "dm-0") == ["sdb", "sdd"])
        #expect(sysfs.blockDevice(majorMinor: "8:80") == "sdf")
        #expect(sysfs.blockDevice(majorMinor: "254:2") == "dm-2")
    }

    @Test("SCSI disks: H:C:T:L, major:minor, state, trimmed INQUIRY strings, session")
    func disks() throws {
        let healthy = Self.sysfs("healthy").scsiDevices()
        #expect(healthy.keys.sorted() == ["sda", "sdb", "sdc", "sdd", "sde", "sdf"])
        #expect(
            healthy["sdb"]
                == SCSIDevice(
                    name: "sdb", hctl: "0:0:0:1", majorMinor: "8:16", state: "running", vendor: "NETAPP", model: "LUN C-Mode", sessionID: 1))
        #expect(
            healthy["sdf"]
                == SCSIDevice(name: "sdf", hctl: "3:0:0:0", majorMinor: "8:80", state: "running", vendor: "EQLOGIC", model: "100E-00", sessionID: 4))
        #expect(healthy.values.map(\.sessionID).sorted { ($0 ?? 0) < ($1 ?? 0) } == [1, 1, 2, 2, 3, 4])
        #expect(Self.sysfs("dead").scsiDevices().values.allSatisfy { $0.state == "transport-offline" })
        #expect(Self.sysfs("dead").scsiState(of: "sda") == "transport-offline")
    }

    @Test("iSCSI sessions: target, portal, iface, netdev, state, recovery_tmo, disks")
    func sessions() throws {
        let healthy = Self.sysfs("healthy").sessions()
        #expect(healthy.map(\.id) == [1, 2, 3, 4])
        #expect(
            healthy[0]
                == ISCSISession(
                    id: 1, target: "iqn.1992-08.com.netapp:sn.lab-t0", portalAddress: "192.0.2.2", portalPort: 3260, iface: "iface0",
                    netdev: "ini0", state: "LOGGED_IN", recoveryTmo: 5, devices: ["sda", "sdb"]))
        #expect(healthy.map { $0.portal ?? "-" } == ["192.0.2.2:3260", "198.51.100.2:3260", "192.0.2.2:3260", "198.51.100.2:3260"])
        #expect(healthy.map { $0.netdev ?? "-" } == ["ini0", "ini1", "ini0", "ini1"])
        #expect(healthy.map(\.devices) == [["sda", "sdb"], ["sdc", "sdd"], ["sde"], ["sdf"]])
        #expect(healthy[2].recoveryTmo == 15 && healthy[2].target == "iqn.2001-05.com.equallogic:0-8a0906-lab-t0")
        // After recovery_tmo the kernel leaves the session FREE, not FAILED (lab finding).
        #expect(Self.sysfs("dead").sessions().map(\.state) == ["FREE", "FREE", "FREE", "FREE"])
        #expect(Self.sysfs("dead").sessionState(of: 3) == "FREE")
    }

    @Test("NICs and iface files")
    func nicsAndIfaces() throws {
        let nics = Self.sysfs("degraded").nics()
        #expect(nics["ini0"] == NIC(name: "ini0", operstate: "up", carrier: true))
        #expect(nics["lo"]?.operstate == "unknown")
        let ifaces = IfaceFilesReader(root: Fixture.root.appendingPathComponent("lab/healthy").path).ifaces()
        #expect(
            ifaces == [
                IfaceFile(name: "iface0", netIfaceName: "ini0", hwAddress: nil, transport: "tcp"),
                IfaceFile(name: "iface1", netIfaceName: "ini1", hwAddress: nil, transport: "tcp"),
            ])
    }

    /// The whole snapshot of each state, checked against views captured independently:
    /// `multipathd show paths raw format "%d %t %T %o %m"` and `/sys/block/dm-N/slaves`.
    @Test("a full collection of each state agrees with multipathd's path list and the slaves", arguments: states)
    func collection(state: String) async throws {
        let snapshot = try await Self.collector(state).collect()
        #expect(snapshot.maps.map(\.name) == ["mpatha", "mpathb", "mpathc"])
        #expect(snapshot.multipathdRunning == true)
        let raw = try Fixture.text("lab/\(state)/multipathd-show-paths-raw.txt").split(separator: "\n").map { $0.split(separator: " ") }
        var expected: [String: (checker: String, map: String)] = [:]
        for fields in raw where fields.count >= 5 {
            // "%T" may be two words ("i/o pending"): the map is the last field, the dm state the second.
            expected[String(fields[0])] = (fields[2..<(fields.count - 2)].joined(separator: " "), String(fields[fields.count - 1]))
        }
        for map in snapshot.maps {
            #expect(map.sysfsName.map { Self.sysfs(state).slaves(of: $0) } == map.paths.compactMap(\.device).sorted())
            for path in map.paths {
                let device = try #require(path.device)
                #expect(expected[device]?.map == map.name)
                #expect(path.checkerState == expected[device]?.checker)
                #expect(snapshot.scsiDevices[device]?.majorMinor == path.majorMinor)
            }
        }
        #expect(snapshot.sessions.count == 4)
        #expect(snapshot.ifaces.map(\.name) == ["iface0", "iface1"])
    }

    @Test("degraded: path A failed in dm, multipathd faulty, disks and sessions as the kernel left them")
    func degraded() async throws {
        let snapshot = try await Self.collector("degraded").collect()
        let pathA = snapshot.maps.flatMap(\.paths).filter { path in
            path.device.flatMap { snapshot.session(of: $0)?.portalAddress } == "192.0.2.2"
        }
        #expect(pathA.count == 3)
        #expect(pathA.allSatisfy { $0.kernelState == .failed })
        #expect(snapshot.maps.allSatisfy { $0.validPaths == 1 })
    }

    @Test("the udev log of a path cut and restore replays as events with the kernel's properties")
    func udevReplay() throws {
        let log = try Fixture.text("lab/udev-path-cut-restore.txt")
        let kernel = FakeUdevSource.events(udevadmMonitor: log, source: .kernel)
        let failed = kernel.filter { $0.properties["DM_ACTION"] == "PATH_FAILED" }
        let reinstated = kernel.filter { $0.properties["DM_ACTION"] == "PATH_REINSTATED" }
        #expect(Set(failed.compactMap { $0.properties["DM_NAME"] }) == ["mpatha", "mpathb", "mpathc"])
        #expect(Set(reinstated.compactMap { $0.properties["DM_NAME"] }) == ["mpatha", "mpathb", "mpathc"])
        let first = try #require(failed.first)
        #expect(first.action == "change" && first.sysname == "dm-0")
        #expect(first.properties["DM_PATH"] == "8:16" && first.properties["DM_NR_VALID_PATHS"] == "1")
        #expect(first.receivedMonotonic == 137.131559)
        #expect(zip(kernel, kernel.dropFirst()).allSatisfy { $0.receivedMonotonic <= $1.receivedMonotonic })
        let udev = FakeUdevSource.events(udevadmMonitor: log, source: .udev)
        #expect(udev.filter { $0.properties["DM_ACTION"] == "PATH_FAILED" }.count == failed.count)
    }
}
