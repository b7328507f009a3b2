import Foundation
import Glibc
import Logging
import SanpathHealth
import Testing

@testable import SanpathSystem

extension DeviceMapperTests {
    /// In the lab guest only, on the real stack the payload built (LIO target, two iSCSI paths
    /// through iface0/ini0 and iface1/ini1, multipathd, all paths up): the real collectors together.
    /// Nested in the serialized libdevmapper suite: libdevmapper's log routing is process-wide.
    @Suite("collectors on the real stack (lab)", .enabled(if: LabStack.present), .timeLimit(.minutes(1)))
    struct LabStackTests {
        @Test("a full collection: maps with disk names and checker states, disks, sessions, ifaces, NICs")
        func fullCollection() async throws {
            let logger = Logger(label: "test")
            let collector = SnapshotCollector(
                deviceMapper: LibDevmapper(logger: logger), multipathd: MultipathdSocket(), logger: logger)
            let collection = try await collector.timedCollect()
            let snapshot = collection.snapshot
            #expect(snapshot.multipathdRunning == true)
            #expect(!snapshot.maps.isEmpty)
            for map in snapshot.maps {
                #expect(map.sysfsName?.hasPrefix("dm-") == true)
                #expect(map.paths.count == 2)
                for path in map.paths {
                    #expect(path.kernelState == .active)
                    #expect(path.checkerState == "ready")
                    let device = try #require(path.device.flatMap { snapshot.scsiDevices[$0] })
                    #expect(device.majorMinor == path.majorMinor)
                    #expect(device.state == "running")
                    #expect(snapshot.session(of: device.name)?.isLoggedIn == true)
                }
                let slaves = SysfsReader().slaves(of: try #require(map.sysfsName))
                #expect(slaves == map.paths.compactMap(\.device).sorted(by: SysfsReader.kernelOrder))
            }
            #expect(Set(snapshot.sessions.compactMap(\.netdev)) == ["ini0", "ini1"])
            #expect(Set(snapshot.sessions.compactMap(\.iface)) == ["iface0", "iface1"])
            #expect(Set(snapshot.sessions.compactMap(\.portal)) == ["192.0.2.2:3260", "198.51.100.2:3260"])
            #expect(snapshot.sessions.allSatisfy { $0.recoveryTmo != nil && !$0.devices.isEmpty })
            #expect(snapshot.ifaces.first { $0.name == "iface0" }?.netIfaceName == "ini0")
            #expect(snapshot.nics["ini0"]?.isUp == true && snapshot.nics["ini1"]?.isUp == true)
            #expect(collection.duration < .seconds(5))

            let refreshed = try await collector.refresh(mapNamed: snapshot.maps[0].name, in: snapshot)
            #expect(refreshed.maps == snapshot.maps)
        }
    }
}

/// Whether the lab payload built the two-path stack.
enum LabStack {
    static var present: Bool {
        ProcessInfo.processInfo.environment["SANPATH_LAB_STACK"] == "1" && LibDevmapper.isAvailable && getuid() == 0
    }
}
