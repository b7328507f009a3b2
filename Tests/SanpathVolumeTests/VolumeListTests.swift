import Foundation
import Logging
import SanpathHost
import SanpathSystem
import SanpathTestSupport
import SanpathVolume
import Testing

/// Events that never come: list reads state only.
struct NoEvents: UdevEventSource {
    func events() -> AsyncStream<UdevStreamItem> { AsyncStream { _ in } }
}

/// The fixture host captured in the lab (Tests/SanpathSystemTests/Fixtures/lab/healthy): 3 maps of
/// 2 paths, sessions 1 and 2 to portals A and B of one target, 3 and 4 of another.
@Suite struct VolumeListTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("SanpathSystemTests/Fixtures/lab/healthy").path

    @Test func listsEveryMapWithItsPathsSessionsAndNICs() throws {
        let proc = FileManager.default.temporaryDirectory.appendingPathComponent("proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: proc.appendingPathComponent("self"), withIntermediateDirectories: true)
        try Data().write(to: proc.appendingPathComponent("self/mountinfo"))
        defer { try? FileManager.default.removeItem(at: proc) }
        let host = VolumeHost(
            sysfs: SysfsReader(root: "\(Self.fixture)/sys"), files: LocalFileSystem(root: Self.fixture), runner: FakeCommandRunner(),
            attributes: SysfsAttributeWriter(), events: NoEvents(), iscsiDatabase: "/etc/iscsi", devRoot: "/dev", procRoot: proc.path,
            logger: Logger(label: "test"))
        let volumes = VolumeLister(host: host).volumes()
        #expect(volumes.map(\.map) == ["mpatha", "mpathb", "mpathc"])
        let a = try #require(volumes.first)
        #expect(a.wwid == "36001405ab5ea20000000100000000000")
        #expect(a.device == "/dev/disk/by-id/dm-uuid-mpath-36001405ab5ea20000000100000000000")
        #expect(a.paths.map(\.disk) == ["sdb", "sdd"])
        #expect(a.paths.map(\.portal) == ["192.0.2.2:3260", "198.51.100.2:3260"])
        #expect(a.paths.map(\.nic) == ["ini0", "ini1"])
        #expect(a.paths.map(\.hctl) == ["0:0:0:1", "1:0:0:1"])
        #expect(a.paths.allSatisfy { $0.state == "running" && $0.sessionState == "LOGGED_IN" })
        #expect(a.holders.isEmpty)
        // the ifaces the attach would use, from the captured /etc/iscsi/ifaces
        #expect(try host.ifaces() == [HostIface(name: "iface0", nic: "ini0"), HostIface(name: "iface1", nic: "ini1")])
    }
}
