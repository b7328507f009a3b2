/// A line the scanner kept: one that holds a needle, or one of the lines right after it
/// (continuations, stack traces, an id-less error of the same request).
public struct ScannedLine: Sendable, Hashable {
    /// 1-based line number in the file.
    public var number: Int
    /// The line's text, without its `\n` (and without a `\r` before it).
    public var text: String
    /// True when the line holds a needle; false for a context line.
    public var matched: Bool
}

/// Finds the lines that hold any of a few needles in a stream of byte chunks, counting lines, like
/// `grep -n -A N -e … -e …`: the bytes are searched where they lie, only kept lines are copied,
/// so memory stays flat in the size of the file.
public struct LineScanner: Sendable {
    var needles: [[UInt8]]
    let afterContext: Int
    /// Line number of the first byte not yet consumed.
    var lineNumber = 1
    /// A line begun in an earlier chunk.
    var carry: [UInt8] = []
    /// Context lines still to keep after the last match.
    var contextLeft = 0

    /// A scanner for `needles`, keeping `afterContext` lines after each matching line.
    public init(needles: [String], afterContext: Int = 10) {
        self.needles = needles.filter { !$0.isEmpty }.map { Array($0.utf8) }
        self.afterContext = afterContext
    }

    /// Consumes one chunk; calls `keep` for every kept line that ends in it. `keep` may return a
    /// needle to look for from the next line on (the NC's thread of a matching line).
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, keep: (ScannedLine) -> String?) {
        let end = chunk.count
        guard end > 0 else { return }
        guard let firstNL = ByteSearch.firstNewline(in: chunk, from: 0, to: end) else {
            carry.append(contentsOf: chunk)
            return
        }
        var start = 0
        if !carry.isEmpty {
            carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<firstNL]))
            let line = carry
            carry.removeAll(keepingCapacity: true)
            line.withUnsafeBytes { one(in: $0, from: 0, to: $0.count, keep: keep) }
            start = firstNL + 1
        }
        let lastNL = ByteSearch.lastNewline(in: chunk, from: start, to: end) ?? (start - 1)
        if lastNL >= start { lines(in: chunk, from: start, to: lastNL + 1, keep: keep) }
        if lastNL + 1 < end { carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[(lastNL + 1)..<end])) }
    }

    /// Ends the stream: a last line without `\n` is still a line.
    public mutating func finish(keep: (ScannedLine) -> String?) {
        guard !carry.isEmpty else { return }
        let line = carry
        carry.removeAll()
        line.withUnsafeBytes { one(in: $0, from: 0, to: $0.count, keep: keep) }
    }

    /// One whole line (without its `\n`) at `from..<to`.
    mutating func one(in bytes: UnsafeRawBufferPointer, from: Int, to: Int, keep: (ScannedLine) -> String?) {
        let matched = needles.contains { ByteSearch.firstIndex(of: $0, in: bytes, from: from, to: to) != nil }
        if matched || contextLeft > 0 {
            if let needle = keep(ScannedLine(number: lineNumber, text: Self.text(bytes, from, to), matched: matched)) {
                let added = Array(needle.utf8)
                if !needles.contains(added) { needles.append(added) }
            }
            contextLeft = matched ? afterContext : contextLeft - 1
        }
        lineNumber += 1
    }

    /// Complete lines at `from..<to` (`to` just past a `\n`).
    mutating func lines(in bytes: UnsafeRawBufferPointer, from: Int, to: Int, keep: (ScannedLine) -> String?) {
        var position = from
        // the next match of each needle at or after `position`, found once and reused
        var next = needles.map { ByteSearch.firstIndex(of: $0, in: bytes, from: from, to: to) ?? Int.max }
        while position < to {
            if contextLeft > 0 {
                let lineEnd = ByteSearch.firstNewline(in: bytes, from: position, to: to) ?? to
                one(in: bytes, from: position, to: lineEnd, keep: keep)
                position = lineEnd + 1
                continue
            }
            while next.count < needles.count { next.append(-1) }  // a needle added by `keep`
            for k in next.indices where next[k] < position {
                next[k] = ByteSearch.firstIndex(of: needles[k], in: bytes, from: position, to: to) ?? Int.max
            }
            guard let match = next.min(), match != Int.max else {
                lineNumber += ByteSearch.newlines(in: bytes, from: position, to: to)
                return
            }
            let lineStart = (ByteSearch.lastNewline(in: bytes, from: position, to: match) ?? (position - 1)) + 1
            lineNumber += ByteSearch.newlines(in: bytes, from: position, to: lineStart)
            let lineEnd = ByteSearch.firstNewline(in: bytes, from: match, to: to) ?? to
            one(in: bytes, from: lineStart, to: lineEnd, keep: keep)
            position = lineEnd + 1
        }
    }

    static func text(_ bytes: UnsafeRawBufferPointer, _ from: Int, _ to: Int) -> String {
        var end = to
        if end > from, bytes[end - 1] == 0x0D { end -= 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[from..<end]), as: UTF8.self)
    }
}
