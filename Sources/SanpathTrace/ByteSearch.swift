/// Substring search and line counting over raw bytes, 32 bytes at a time: the scan of a gigabyte of
/// logs must keep up with grep, and libc's `memmem` is not visible to Swift on Linux.
enum ByteSearch {
    /// The first offset in `from..<to` where `needle` starts, or nil. Compares the needle's first and
    /// last bytes across 32 candidate starts at once (Muła's "SIMD-friendly" search), then confirms.
    static func firstIndex(of needle: [UInt8], in bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        let n = needle.count
        guard n > 0, to - from >= n, let base = bytes.baseAddress else { return nil }
        let first = SIMD32<UInt8>(repeating: needle[0])
        let last = SIMD32<UInt8>(repeating: needle[n - 1])
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
            while i + n - 1 + 32 <= to {
                let a = base.loadUnaligned(fromByteOffset: i, as: SIMD32<UInt8>.self)
                let b = base.loadUnaligned(fromByteOffset: i + n - 1, as: SIMD32<UInt8>.self)
                let hits = (a .== first) .& (b .== last)
                if any(hits) {
                    for k in 0..<32 where hits[k] && matches(at: i + k) { return i + k }
                }
                i += 32
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

    /// How many `\n` bytes are in `from..<to`.
    static func newlines(in bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int {
        guard let base = bytes.baseAddress, to > from else { return 0 }
        let newline = SIMD32<UInt8>(repeating: 0x0A)
        let one = SIMD32<UInt8>(repeating: 1)
        let zero = SIMD32<UInt8>(repeating: 0)
        var count = 0
        var i = from
        while i + 32 <= to {
            // at most 255 blocks per byte lane before it could overflow
            var lanes = zero
            var blocks = 0
            while blocks < 255, i + 32 <= to {
                let v = base.loadUnaligned(fromByteOffset: i, as: SIMD32<UInt8>.self)
                lanes &+= zero.replacing(with: one, where: v .== newline)
                i += 32
                blocks += 1
            }
            var sum = 0
            for k in 0..<32 { sum += Int(lanes[k]) }
            count += sum
        }
        while i < to {
            if base.load(fromByteOffset: i, as: UInt8.self) == 0x0A { count += 1 }
            i += 1
        }
        return count
    }

    /// The offset of the first `\n` in `from..<to`, or nil.
    static func firstNewline(in bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        guard let base = bytes.baseAddress, to > from else { return nil }
        let newline = SIMD32<UInt8>(repeating: 0x0A)
        var i = from
        while i + 32 <= to {
            let hits = base.loadUnaligned(fromByteOffset: i, as: SIMD32<UInt8>.self) .== newline
            if any(hits) {
                for k in 0..<32 where hits[k] { return i + k }
            }
            i += 32
        }
        while i < to {
            if base.load(fromByteOffset: i, as: UInt8.self) == 0x0A { return i }
            i += 1
        }
        return nil
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
