#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The daemon's start-up runs a lot of code once (argument parsing, Foundation and the Swift
/// runtime's conformance scans, SQLite migrations, the HTTP server's setup). In a statically
/// linked binary the kernel keeps every page of it mapped, so resident memory would show start-up,
/// not what the idle daemon needs. After the first scan the daemon tells the kernel that its own
/// clean, file-backed code and read-only data pages may go (MADV_PAGEOUT); what the daemon still
/// runs comes back at the next fault. Heap and written pages are not touched.
public enum StartupPages {
    /// Releases the executable's read-only mappings; returns how many bytes were advised.
    @discardableResult
    public static func release() -> Int {
        guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8),
            let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        else { return 0 }
        var advised = 0
        for line in maps.split(separator: "\n") {
            // 5577b0ef8000-5577b3b01000 r-xp 00000000 fd:00 1234 /usr/local/bin/sanpath
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, String(fields[5...].joined(separator: " ")) == exe,
                fields[1].hasPrefix("r"), !fields[1].contains("w")
            else { continue }
            let bounds = fields[0].split(separator: "-").compactMap { UInt(String($0), radix: 16) }
            guard bounds.count == 2, let start = UnsafeMutableRawPointer(bitPattern: bounds[0]) else { continue }
            let length = Int(bounds[1] - bounds[0])
            if madvise(start, length, 21 /* MADV_PAGEOUT, Linux 5.4 */) == 0 { advised += length }
        }
        return advised
    }
}
