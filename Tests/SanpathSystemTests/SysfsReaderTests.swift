import Foundation
import SanpathHealth
import Testing

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

    @Test("a root that does not exist reads as an empty host, not an error")
    func missingRoot() {
        let reader = SysfsReader(root: "/nonexistent/sys")
        #expect(reader.scsiDevices().isEmpty)
        #expect(reader.sessions().isEmpty)
        #expect(reader.nics().isEmpty)
        #expect(reader.scsiDevice(named: "sdb") == nil)
        #expect(reader.slaves(of: "dm-0").isEmpty)
    }

    @Test("kernel disk order: sdz before sdaa")
    func kernelOrder() {
        #expect(["sdaa", "sdb", "sdz", "sda"].sorted(by: SysfsReader.kernelOrder) == ["sda", "sdb", "sdz", "sdaa"])
    }
}
