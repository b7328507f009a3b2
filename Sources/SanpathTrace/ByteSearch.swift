#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Substring search and line counting over raw bytes, eight bytes at a time (SWAR): the scan of a
/// gigabyte of logs must keep up with grep, and libc's `memmem` is not visible to Swift on Linux.
enum ByteSearch {
    /// The first offset in `from..<to` where `needle` starts, or nil. Compares the needle's first and
    /// last bytes across 32 candidate starts at once (Muła's "SIMD-friendly" search), then confirms.
    static func firstIndex(of needle: [UInt8], in bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        let n = needle.count
        guard n > 0, to - from >= n, let base = bytes.baseAddress else { return nil }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        let first = UInt64(needle[0]) &* ones
        let last = UInt64(needle[n - 1]) &* ones
        var i = from
        return needle.withUnsafeBufferPointer { pattern -> Int? in
            func matches(at start: Int) -> Bool {
                var k = 1
                while k < n - 1 {
                    if base.load(fromByteOffset: start + k, as: UInt8.self) != pattern[k] { return false }
                    k += 1
                }
                return true
            }
            // eight candidate starts at once: a zero byte where both the first and the last byte match
            while i + n - 1 + 8 <= to {
                let x = (base.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ first)
                    | (base.loadUnaligned(fromByteOffset: i + n - 1, as: UInt64.self) ^ last)
                var zeros = ~(((x & low7) &+ low7) | x | low7)
                while zeros != 0 {
                    let k = zeros.trailingZeroBitCount / 8
                    if matches(at: i + k) { return i + k }
                    zeros &= zeros &- 1
                }
                i += 8
            }
            while i + n <= to {
                if base.load(fromByteOffset: i, as: UInt8.self) == pattern[0],
                    base.load(fromByteOffset: i + n - 1, as: UInt8.self) == pattern[n - 1], matches(at: i)
                {
                    return i
                }
                i += 1
            }
            return nil
        }
    }

    /// How many `\n` bytes are in `from..<to`: eight bytes at a time, each `\n` turned into a zero
    /// byte and the zero bytes counted exactly (no borrow between bytes), then a popcount.
    static func newlines(in bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int {
        guard let base = bytes.baseAddress, to > from else { return 0 }
        let newlines: UInt64 = 0x0A0A_0A0A_0A0A_0A0A
        let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        var count = 0
        var i = from
        while i + 8 <= to {
            let x = base.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ newlines
            let zeros = ~(((x & low7) &+ low7) | x | low7)
            count += zeros.nonzeroBitCount
            i += 8
        }
        while i < to {
            if base.load(fromByteOffset: i, as: UInt8.self) == 0x0A { count += 1 }
            i += 1
        }
        return count
    }

    /// The offset of the first `\n` in `from..<to`, or nil (libc's memchr).
    static func firstNewline(in bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        guard let base = bytes.baseAddress, to > from else { return nil }
        guard let found = memchr(base + from, 0x0A, to - from) else { return nil }
        return UnsafeRawPointer(found) - base
    }

    /// The offset of the last `\n` in `from..<to`, or nil.
    static func lastNewline(in bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        var i = to - 1
        while i >= from {
            if base.load(fromByteOffset: i, as: UInt8.self) == 0x0A { return i }
            i -= 1
        }
        return nil
    }
}
