import SanpathCore

/// A unified diff between two versions of a file, computed with the standard library's
/// `CollectionDifference` (Myers) over whole lines, line endings included.
public struct UnifiedDiff: Sendable {
    /// One line of the edit script.
    public enum Operation: Sendable, Hashable {
        case same(old: Int, new: Int)
        case removed(old: Int)
        case added(new: Int)
    }

    /// A hunk: its ranges and operations.
    public struct Hunk: Sendable {
        /// 1-based first old line and count, as in `@@ -a,b +c,d @@`.
        public var oldStart: Int
        /// Old line count.
        public var oldCount: Int
        /// 1-based first new line.
        public var newStart: Int
        /// New line count.
        public var newCount: Int
        /// The operations, context included.
        public var operations: [Operation]
    }

    /// The old lines.
    public let old: [TextLine]
    /// The new lines.
    public let new: [TextLine]
    /// The hunks, empty when the files are the same.
    public let hunks: [Hunk]

    /// Diffs two versions with `context` lines around each change.
    public init(old: [TextLine], new: [TextLine], context: Int = 3) {
        self.old = old
        self.new = new
        let script = UnifiedDiff.script(old: old, new: new)
        self.hunks = UnifiedDiff.group(script, context: context)
    }

    /// Whether anything differs.
    public var isEmpty: Bool { hunks.isEmpty }

    static func script(old: [TextLine], new: [TextLine]) -> [Operation] {
        let difference = new.difference(from: old)
        // one flag per line, not a set: looked up once for each of maybe 50,000 lines
        var removed = [Bool](repeating: false, count: old.count)
        var inserted = [Bool](repeating: false, count: new.count)
        for change in difference {
            switch change {
            case .remove(let offset, _, _): removed[offset] = true
            case .insert(let offset, _, _): inserted[offset] = true
            }
        }
        var out: [Operation] = []
        out.reserveCapacity(max(old.count, new.count))
        var i = 0
        var j = 0
        while i < old.count || j < new.count {
            if i < old.count, removed[i] {
                out.append(.removed(old: i))
                i += 1
            } else if j < new.count, inserted[j] {
                out.append(.added(new: j))
                j += 1
            } else {
                out.append(.same(old: i, new: j))
                i += 1
                j += 1
            }
        }
        return out
    }

    static func group(_ script: [Operation], context: Int) -> [Hunk] {
        let changed = script.indices.filter {
            if case .same = script[$0] { return false }
            return true
        }
        guard !changed.isEmpty else { return [] }
        // merge change positions whose context windows touch
        var windows: [ClosedRange<Int>] = []
        for index in changed {
            let window = max(0, index - context)...min(script.count - 1, index + context)
            if let last = windows.last, window.lowerBound <= last.upperBound + 1 {
                windows[windows.count - 1] = last.lowerBound...max(last.upperBound, window.upperBound)
            } else {
                windows.append(window)
            }
        }
        return windows.map { window in
            let operations = Array(script[window])
            var oldStart: Int?
            var newStart: Int?
            var oldCount = 0
            var newCount = 0
            for op in operations {
                switch op {
                case .same(let o, let n):
                    oldStart = oldStart ?? o
                    newStart = newStart ?? n
                    oldCount += 1
                    newCount += 1
                case .removed(let o):
                    oldStart = oldStart ?? o
                    oldCount += 1
                case .added(let n):
                    newStart = newStart ?? n
                    newCount += 1
                }
            }
            // an empty side starts at the line before, as diff(1) prints it
            let firstOld = oldStart.map { $0 + 1 } ?? UnifiedDiff.position(before: window.lowerBound, in: script, old: true)
            let firstNew = newStart.map { $0 + 1 } ?? UnifiedDiff.position(before: window.lowerBound, in: script, old: false)
            return Hunk(
                oldStart: firstOld, oldCount: oldCount, newStart: firstNew, newCount: newCount, operations: operations)
        }
    }

    /// For a hunk with no lines on one side: the number of that side's lines before it.
    static func position(before index: Int, in script: [Operation], old: Bool) -> Int {
        var count = 0
        for op in script[..<index] {
            switch op {
            case .same: count += 1
            case .removed: if old { count += 1 }
            case .added: if !old { count += 1 }
            }
        }
        return count
    }

    /// The diff as text. `redact` is applied to every line shown; `color` adds ANSI colours.
    public func render(
        oldLabel: String, newLabel: String, color: Bool = false, redact: (String) -> String = { $0 }
    ) -> String {
        guard !hunks.isEmpty else { return "" }
        let (bold, red, green, cyan, reset) =
            color ? ("\u{1B}[1m", "\u{1B}[31m", "\u{1B}[32m", "\u{1B}[36m", "\u{1B}[0m") : ("", "", "", "", "")
        var out = "\(bold)--- \(oldLabel)\(reset)\n\(bold)+++ \(newLabel)\(reset)\n"
        for hunk in hunks {
            out += "\(cyan)@@ -\(UnifiedDiff.range(hunk.oldStart, hunk.oldCount)) +\(UnifiedDiff.range(hunk.newStart, hunk.newCount)) @@\(reset)\n"
            for op in hunk.operations {
                let (prefix, line, colour): (String, TextLine, String) =
                    switch op {
                    case .same(let o, _): (" ", old[o], "")
                    case .removed(let o): ("-", old[o], red)
                    case .added(let n): ("+", new[n], green)
                    }
                var shown = redact(line.text)
                if line.ending == .crlf { shown += color ? "\(reset)\u{1B}[2m␍" : "" }
                out += "\(colour)\(prefix)\(shown)\(colour.isEmpty ? "" : reset)\n"
                if line.ending == .none { out += "\\ No newline at end of file\n" }
            }
        }
        return out
    }

    static func range(_ start: Int, _ count: Int) -> String {
        count == 1 ? "\(start)" : "\(start),\(count)"
    }
}
