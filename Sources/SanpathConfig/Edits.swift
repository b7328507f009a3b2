import SanpathCore

/// One change a plan makes to a file, in the words the plan shows: which section and key,
/// the value before and after, and why.
public struct Change: Sendable, Hashable, Codable {
    /// `defaults`, `devices/device(EQLOGIC/100E-00)`, or nil for files without sections.
    public var section: String?
    /// The keyword or setting name.
    public var key: String
    /// The value before (nil: not set). Secrets are masked.
    public var old: String?
    /// The value after (nil: removed or commented out). Secrets are masked.
    public var new: String?
    /// Why: "set by equallogic profile", "deprecated keyword migrated", …
    public var reason: String
    /// 1-based line in the file as it is now; nil for text that is only added.
    public var line: Int?

    /// Creates a change.
    public init(section: String?, key: String, old: String?, new: String?, reason: String, line: Int?) {
        self.section = section
        self.key = key
        self.old = old
        self.new = new
        self.reason = reason
        self.line = line
    }
}

/// A line-level edit against a parsed file: replace one line with zero or more lines, or insert
/// lines before a line (`before == lines.count` appends). Indices are 0-based and refer to the
/// file the edit was computed on.
public enum LineEdit: Sendable, Hashable {
    /// Replace line `line` with `with` (empty: delete it).
    case replace(line: Int, with: [String])
    /// Insert `lines` before line `before`.
    case insert(before: Int, lines: [String])

    var anchor: Int {
        switch self {
        case .replace(let line, _): line
        case .insert(let before, _): before
        }
    }
}

/// Where each line of an edited file came from: the index of the input line, or nil for an
/// inserted line (the first line of a replacement counts as coming from the line it replaced).
/// Kept as runs, one per stretch between edits, not one entry per line of a 50,000-line file.
public struct LineOrigin: Sendable, Hashable {
    /// `count` output lines from `newStart` on: input lines from `oldStart` on or, when
    /// `inserted`, new lines put before input line `oldStart`.
    struct Run: Sendable, Hashable {
        var newStart: Int
        var oldStart: Int
        var count: Int
        var inserted: Bool
    }

    /// In output order, and so in input order too.
    var runs: [Run] = []

    mutating func append(new: Int, old: Int, count: Int, inserted: Bool = false) {
        guard count > 0 else { return }
        if let last = runs.last, last.inserted == inserted, last.newStart + last.count == new,
            inserted ? last.oldStart == old : last.oldStart + last.count == old
        {
            runs[runs.count - 1].count += count
        } else {
            runs.append(Run(newStart: new, oldStart: old, count: count, inserted: inserted))
        }
    }

    /// The last run whose `key` is at or before `value` (keys rise with the runs).
    private func lastRun(_ key: (Run) -> Int, atOrBefore value: Int) -> Run? {
        var (low, high) = (0, runs.count)
        while low < high {
            let middle = (low + high) / 2
            if key(runs[middle]) <= value { low = middle + 1 } else { high = middle }
        }
        return low > 0 ? runs[low - 1] : nil
    }

    /// The input line output line `line` came from; nil when it was inserted.
    public subscript(line: Int) -> Int? {
        guard let run = lastRun(\.newStart, atOrBefore: line), line < run.newStart + run.count, !run.inserted else {
            return nil
        }
        return run.oldStart + line - run.newStart
    }

    /// The output index of an input line no edit replaced.
    public func newIndex(ofKept old: Int) -> Int {
        // lines inserted before `old` come before it, so the last run starting at or before it holds it
        guard let run = lastRun(\.oldStart, atOrBefore: old), !run.inserted, old < run.oldStart + run.count else {
            preconditionFailure("line \(old) was not kept")
        }
        return run.newStart + old - run.oldStart
    }
}

/// Applies line edits while keeping every untouched line byte-identical, line endings included.
public enum LineEditor {
    /// The edited lines, and for each output line the index of the input line it came from
    /// (the first line of a replacement counts as coming from the line it replaced; nil for
    /// inserted lines).
    ///
    /// New lines take the file's dominant line ending; a replaced line keeps its own. A file
    /// without a final newline stays without one.
    public static func apply(_ edits: [LineEdit], to input: TextLines) -> (lines: TextLines, origin: LineOrigin) {
        var origin = LineOrigin()
        // nothing to do for a file whose only unterminated line is its last (every parsed file)
        guard !edits.isEmpty || input.lines.dropLast().contains(where: { $0.ending == .none }) else {
            origin.append(new: 0, old: 0, count: input.lines.count)
            return (input, origin)
        }
        let ending = input.dominantEnding
        var inserts: [Int: [String]] = [:]
        var replaces: [Int: [String]] = [:]
        for edit in edits {
            switch edit {
            case .insert(let before, let lines): inserts[before, default: []] += lines
            case .replace(let line, let with):
                precondition(replaces[line] == nil, "two edits replace line \(line)")
                replaces[line] = with
            }
        }
        var out: [TextLine] = []
        out.reserveCapacity(input.lines.count + edits.count)
        // the lines between edited ones are copied a run at a time: a plan edits a handful of a
        // file's lines, and the file may have 50,000
        var next = 0
        for index in Set(inserts.keys).union(replaces.keys).sorted() where index <= input.lines.count {
            origin.append(new: out.count, old: next, count: index - next)
            out += input.lines[next..<index]
            for text in inserts[index] ?? [] {
                origin.append(new: out.count, old: index, count: 1, inserted: true)
                out.append(TextLine(text, ending: ending))
            }
            next = index
            guard index < input.lines.count else { break }
            let line = input.lines[index]
            if let replacement = replaces[index] {
                for (k, text) in replacement.enumerated() {
                    // the first replacement line keeps the original's ending
                    origin.append(new: out.count, old: index, count: 1, inserted: k > 0)
                    out.append(TextLine(text, ending: k == 0 && line.ending != .none ? line.ending : ending))
                }
            } else {
                origin.append(new: out.count, old: index, count: 1)
                out.append(line)
            }
            next = index + 1
        }
        origin.append(new: out.count, old: next, count: input.lines.count - next)
        out += input.lines[next...]
        // only the last line may lack a terminator, and only if the input's did
        for i in out.indices where out[i].ending == .none && i != out.count - 1 {
            out[i].ending = ending
        }
        if let last = out.indices.last {
            if input.lacksFinalNewline {
                out[last].ending = .none
            } else if out[last].ending == .none {
                out[last].ending = ending
            }
        }
        return (TextLines(out), origin)
    }
}
