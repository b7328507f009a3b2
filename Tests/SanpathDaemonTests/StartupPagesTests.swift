import Foundation
import Testing

@testable import SanpathDaemon

@Suite("start-up pages")
struct StartupPagesTests {
    /// Lines as /proc/PID/maps prints them (from this machine): the path is padded with spaces.
    @Test("the private mappings of files are advised; the heap, stacks, vdso, anonymous and shared memory are not")
    func fileMappingsOfAMapsText() {
        let maps = """
            55bec53b7000-55bec53ba000 r--p 00000000 fe:00 254626                     /usr/bin/sed
            55bec53ba000-55bec53ce000 r-xp 00003000 fe:00 254626                     /usr/bin/sed
            55bee17d4000-55bee17f5000 rw-p 00000000 00:00 0                          [heap]
            7f0cadc44000-7f0cadd9a000 r-xp 00026000 fe:00 333151                     /usr/lib/x86_64-linux-gnu/libc.so.6
            7f0caddf1000-7f0caddf3000 rw-p 001d3000 fe:00 333151                     /usr/lib/x86_64-linux-gnu/libc.so.6
            7f0cadd00000-7f0cadd10000 rw-s 00000000 00:01 4242                       /dev/shm/shared (deleted)
            7f0cade00000-7f0cade10000 rw-p 00000000 00:00 0 
            7f0cade4b000-7f0cade4d000 r-xp 00000000 00:00 0                          [vdso]
            7ffea4f7f000-7ffea4fa0000 rw-p 00000000 00:00 0                          [stack]
            """
        #expect(StartupPages.fileMappings(maps) == [
            0x55be_c53b_7000..<0x55be_c53b_a000, 0x55be_c53b_a000..<0x55be_c53c_e000,
            0x7f0c_adc4_4000..<0x7f0c_add9_a000, 0x7f0c_addf_1000..<0x7f0c_addf_3000,
        ])
    }

    @Test("libc's code in this very process is among its file mappings", .enabled(if: FileManager.default.fileExists(atPath: "/proc/self/maps")))
    func ownCode() throws {
        let strlen = try #require(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "strlen"))
        let address = UInt(bitPattern: strlen)
        // the kernel may skip a line of /proc/self/maps while other threads of the test run map
        // and unmap memory between two reads of it: a few tries
        var found = false
        var seen = ""
        for _ in 1...5 where !found {
            let maps = try #require(StartupPages.readProcFile("/proc/self/maps"))
            found = StartupPages.fileMappings(maps).contains { $0.contains(address) }
            seen = maps.split(separator: "\n").filter { $0.contains("libc") || $0.contains("r-xp") }.prefix(12).joined(separator: "\n")
        }
        #expect(found, "strlen at \(String(address, radix: 16)) in none of: \(seen)")
    }
}
