#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The daemon's start-up runs a lot of code once (argument parsing, Foundation and the Swift
/// runtime's conformance scans, SQLite migrations, the HTTP server's setup). The kernel keeps every
/// page of it mapped, so resident memory would show start-up, not what the idle daemon needs.
/// After the first scan the daemon tells the kernel that the clean, file-backed pages of its
/// executable and libraries may go (MADV_PAGEOUT; a page another process maps too is left alone
/// by the kernel), and that these mappings are read at random (MADV_RANDOM): a page the daemon
/// runs again comes back alone, not with the 64 KiB around it that read-ahead and fault-around
/// would map. Heap, stacks and written (copied) pages are not touched.
public enum StartupPages {
    /// Advises the process's file-backed private mappings; returns how many bytes were paged out.
    @discardableResult
    public static func release() -> Int {
        guard let maps = readProcFile("/proc/self/maps") else { return 0 }
        var advised = 0
        for range in fileMappings(maps) {
            guard let start = UnsafeMutableRawPointer(bitPattern: range.lowerBound) else { continue }
            let length = Int(range.upperBound - range.lowerBound)
            _ = madvise(start, length, MADV_RANDOM)
            if madvise(start, length, 21 /* MADV_PAGEOUT, Linux 5.4 */) == 0 { advised += length }
        }
        return advised
    }

    /// A /proc file, read to its end (its size says 0).
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return count == 0 ? String(decoding: bytes, as: UTF8.self) : nil }
            bytes.append(contentsOf: chunk[..<count])
        }
    }

    /// The address ranges of the private mappings of files in a `/proc/PID/maps` text:
    /// `5577b0ef8000-5577b3b01000 r-xp 00000000 fd:00 1234      /usr/local/bin/sanpath`
    /// (not anonymous memory, the heap, stacks, `[vdso]` or shared mappings).
    static func fileMappings(_ maps: String) -> [Range<UInt>] {
        maps.split(separator: "\n").compactMap { line -> Range<UInt>? in
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6, fields[1].hasSuffix("p"), fields[4] != "0",
                fields[5].drop(while: { $0 == " " }).hasPrefix("/")
            else { return nil }
            let bounds = fields[0].split(separator: "-").compactMap { UInt(String($0), radix: 16) }
            guard bounds.count == 2, bounds[0] < bounds[1] else { return nil }
            return bounds[0]..<bounds[1]
        }
    }
}
