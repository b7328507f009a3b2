import Foundation
import SanpathHealth
import Testing
#if os(Linux)
import Glibc
#endif

@testable import SanpathSystem

@Suite("sysfs")
struct SysfsReaderTests {
    /// This host's own /sys: every NIC has an operstate; a NIC that is down has no readable
    /// carrier (the kernel answers EINVAL), which must read as nil, not as an error or false.
    @Test("NICs of the running host: operstate, and no carrier on a down link", .enabled(if: FileManager.default.fileExists(atPath: "/sys/class/net/lo")))
    func liveNICs() throws {
        let nics = SysfsReader().nics()
        let lo = try #require(nics["lo"])
        #expect(lo.operstate == "unknown")
        #expect(lo.carrier == true)
        #expect(lo.isUp)
        for nic in nics.values where nic.operstate == "down" {
            let carrierReadable = FileManager.default.contents(atPath: "/sys/class/net/\(nic.name)/carrier").map { !$0.isEmpty } ?? false
            if !carrierReadable { #expect(nic.carrier == nil, "\(nic.name)") }
            #expect(!nic.isUp)
        }
    }

    @Test("a block device's kernel name from its major:minor, through /sys/dev/block", .enabled(if: FileManager.default.fileExists(atPath: "/sys/block/loop0/dev")))
    func liveBlockDevice() throws {
        let reader = SysfsReader()
        let dev = try #require(reader.value(of: "block/loop0/dev"))
        #expect(reader.blockDevice(majorMinor: dev) == "loop0")
        #expect(reader.blockDevice(majorMinor: "4095:4095") == nil)
    }

    @Test("/sys is a sysfs and a folder of files is not; an attribute kept open reads afresh from offset 0", .enabled(if: FileManager.default.fileExists(atPath: "/sys/class/net/lo/operstate")))
    func liveSysfsAndOpenAttribute() throws {
        #expect(SysfsReader().isSysfs)
        #expect(!SysfsReader(root: Fixture.root.appendingPathComponent("lab/healthy/sys").path).isSysfs)
        let fd = open("/sys/class/net/lo/operstate", O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        #expect(SysfsReader.value(ofOpen: fd) == "unknown")
        #expect(SysfsReader.value(ofOpen: fd) == "unknown")
        #expect(SysfsReader.value(ofOpen: -1) == nil)
    }

    @Test("a folder's listing gives each entry's inode; a link removed and made again has another")
    func listingInodes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-sysfs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let block = root.appendingPathComponent("block")
        try FileManager.default.createDirectory(at: block, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: block.appendingPathComponent("sdb").path, withDestinationPath: "../devices/a/block/sdb")
        try FileManager.default.createSymbolicLink(atPath: block.appendingPathComponent("dm-0").path, withDestinationPath: "../devices/virtual/block/dm-0")
        let reader = SysfsReader(root: root.path)
        let listed = reader.listing(of: "block")
        #expect(Set(listed.map(\.name)) == ["sdb", "dm-0"])
        let inode = try #require(listed.first { $0.name == "sdb" }?.inode)
        #expect(inode == reader.linkInode("block/sdb"))
        // made again: kernfs numbers the new node anew; here the new link is made before the old one
        // goes (a file system may hand a freed number straight back, kernfs allocates cyclically)
        try FileManager.default.createSymbolicLink(atPath: block.appendingPathComponent("sdc").path, withDestinationPath: "../devices/b/block/sdc")
        try FileManager.default.createSymbolicLink(atPath: block.appendingPathComponent("sdb.new").path, withDestinationPath: "../devices/a/block/sdb")
        #expect(rename(block.appendingPathComponent("sdb.new").path, block.appendingPathComponent("sdb").path) == 0)
        #expect(reader.linkInode("block/sdb") != inode)
        #expect(reader.listing(of: "block").first { $0.name == "sdb" }?.inode == reader.linkInode("block/sdb"))
        #expect(reader.listing(of: "nonexistent").isEmpty && reader.linkInode("block/sdz") == nil)
        #expect(Set(reader.entries(of: "block")) == ["sdb", "sdc", "dm-0"])
    }

    @Test("the daemon's reader over the captured trees reads the disks the plain reader does, scan after scan, and forgets a disk gone")
    func cachedReaderOverCaptures() throws {
        for state in ["healthy", "degraded", "dead"] {
            let root = Fixture.root.appendingPathComponent("lab/\(state)/sys").path
            let plain = SysfsReader(root: root)
            let cache = DiskIdentityCache()
            let cached = SysfsReader(root: root, diskIdentities: cache)
            let expected = plain.scsiDevices()
            #expect(!expected.isEmpty, "\(state)")
            #expect(cached.scsiDevices() == expected, "\(state)")
            #expect(cached.scsiDevices() == expected, "\(state): from the cache")
            for name in expected.keys { #expect(cached.scsiDevice(named: name) == expected[name], "\(state) \(name)") }
            // sessions: the same, read whole once, then target, portal, iface and netdev remembered
            let sessions = plain.sessions(devices: expected)
            #expect(!sessions.isEmpty, "\(state)")
            #expect(cached.sessions(devices: expected) == sessions, "\(state)")
            #expect(cache.withEntries { $0.sessions.count } == sessions.count)
            #expect(cached.sessions(devices: expected) == sessions, "\(state): from the cache")
            // a session whose node is another (logged out and in again under the same number): read whole
            let first = try #require(sessions.first)
            cache.withEntries { entries in
                var stale = first
                stale.target = "iqn.stale"
                entries.remember(stale, key: .init(session: 0, connection: nil))
            }
            #expect(cached.sessions(devices: expected) == sessions, "\(state): another node")
            // not a sysfs: nothing kept open, every state read afresh
            #expect(cache.openFiles == 0)
            // a listing without a disk (removed): it is forgotten, and read whole when it is back
            let block = cached.listing(of: "block")
            let gone = try #require(expected.keys.sorted().first)
            #expect(cached.scsiDevices(in: block.filter { $0.name != gone })[gone] == nil)
            #expect(cache.withEntries { $0.disk(named: gone, inode: block.first { $0.name == gone }!.inode) } == nil)
            #expect(cached.scsiDevices(in: block) == expected)
        }
    }

    @Test("a root that does not exist reads as an empty host, not an error")
    func missingRoot() {
        let reader = SysfsReader(root: "/nonexistent/sys")
        #expect(reader.scsiDevices().isEmpty)
        #expect(reader.sessions().isEmpty)
        #expect(reader.nics().isEmpty)
        #expect(reader.scsiDevice(named: "sdb") == nil)
        #expect(reader.slaves(of: "dm-0").isEmpty)
    }

    /// In /sys, block/sdb is a link to ../devices/…/hostH/sessionN/targetH:C:T/H:C:T:L/block/sdb
    /// (the capture copies it as a folder). The reader takes the disk's H:C:T:L and session from
    /// that one link; it must read the same disk as the captured copy does.
    @Test("a disk in the kernel's own layout (block/NAME a link into devices/) reads as in the capture")
    func realLayoutDisk() throws {
        let captured = SysfsReader(root: Fixture.root.appendingPathComponent("lab/healthy/sys").path)
        let expected = try #require(captured.scsiDevice(named: "sdb"))
        let links = try Fixture.text("lab/healthy/sys-links.txt")
        let link = try #require(links.split(separator: "\n").first { $0.hasPrefix("block/sdb -> ") }).dropFirst("block/sdb -> ".count)
        #expect(link.hasSuffix("/block/sdb") && link.contains("/session1/"))

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-sysfs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let disk = root.appendingPathComponent("block").appendingPathComponent(String(link))  // block/../devices/…/block/sdb
        let scsi = disk.deletingLastPathComponent().deletingLastPathComponent()  // …/H:C:T:L
        try FileManager.default.createDirectory(at: root.appendingPathComponent("block"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        for (name, value) in [("state", expected.state), ("vendor", expected.vendor ?? ""), ("model", expected.model ?? "")] {
            try "\(value)\n".write(to: scsi.appendingPathComponent(name), atomically: false, encoding: .utf8)
        }
        try "\(expected.majorMinor ?? "")\n".write(to: disk.appendingPathComponent("dev"), atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: disk.appendingPathComponent("device").path, withDestinationPath: "../../../\(scsi.lastPathComponent)")
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("block/sdb").path, withDestinationPath: String(link))

        let real = SysfsReader(root: root.path)
        #expect(real.linkTarget("block/sdb") == String(link))
        #expect(real.scsiDevice(named: "sdb") == expected)
        #expect(expected.hctl != nil && expected.sessionID == 1)

        // the daemon's reader keeps what a disk cannot change while its /sys/block entry is the same
        // node (inode), and reads its state every time
        let cached = SysfsReader(root: root.path, diskIdentities: DiskIdentityCache())
        #expect(cached.scsiDevice(named: "sdb") == expected)
        try "OTHER\n".write(to: scsi.appendingPathComponent("vendor"), atomically: false, encoding: .utf8)
        try "blocked\n".write(to: scsi.appendingPathComponent("state"), atomically: false, encoding: .utf8)
        var blocked = expected
        blocked.state = "blocked"
        #expect(cached.scsiDevice(named: "sdb") == blocked)
        #expect(real.scsiDevice(named: "sdb")?.vendor == "OTHER")
        // the disk gone: nothing, cached or not
        try FileManager.default.removeItem(at: scsi.appendingPathComponent("state"))
        #expect(cached.scsiDevice(named: "sdb") == nil)
        // a disk of that name elsewhere (another session): read afresh
        let moved = String(link).replacingOccurrences(of: "/session1/", with: "/session7/")
        let movedDisk = root.appendingPathComponent("block").appendingPathComponent(moved)
        let movedSCSI = movedDisk.deletingLastPathComponent().deletingLastPathComponent()
        try FileManager.default.createDirectory(at: movedDisk, withIntermediateDirectories: true)
        for (name, value) in [("state", "running"), ("vendor", "OTHER"), ("model", "M")] {
            try "\(value)\n".write(to: movedSCSI.appendingPathComponent(name), atomically: false, encoding: .utf8)
        }
        try "8:16\n".write(to: movedDisk.appendingPathComponent("dev"), atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: movedDisk.appendingPathComponent("device").path, withDestinationPath: "../../../\(movedSCSI.lastPathComponent)")
        // the new link is made before the old one goes, as kernfs gives a re-created node another
        // number (a file system may hand a freed inode number straight back)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("block/sdb.new").path, withDestinationPath: moved)
        #expect(rename(root.appendingPathComponent("block/sdb.new").path, root.appendingPathComponent("block/sdb").path) == 0)
        let again = cached.scsiDevice(named: "sdb")
        #expect(again?.sessionID == 7 && again?.vendor == "OTHER" && again?.model == "M")
    }

    @Test("an attribute is read whole and trimmed: sysfs's short read, a file longer than a page, an empty file")
    func attributeReads() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-sysfs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let long = String(repeating: "0123456789abcdef", count: 700)  // 11,200 bytes
        try " running\n".write(to: root.appendingPathComponent("state"), atomically: false, encoding: .utf8)
        try "\(long)\n".write(to: root.appendingPathComponent("long"), atomically: false, encoding: .utf8)
        try "".write(to: root.appendingPathComponent("empty"), atomically: false, encoding: .utf8)
        let reader = SysfsReader(root: root.path)
        #expect(reader.value(of: "state") == "running")
        #expect(reader.value(of: "long") == long)
        #expect(reader.value(of: "empty") == "")
        #expect(reader.value(of: "missing") == nil)
        #expect(reader.linkTarget("state") == nil)
    }

    @Test("kernel disk order: sdz before sdaa")
    func kernelOrder() {
        #expect(["sdaa", "sdb", "sdz", "sda"].sorted(by: SysfsReader.kernelOrder) == ["sda", "sdb", "sdz", "sdaa"])
    }
}
