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

/// Applies line edits while keeping every untouched line byte-identical, line endings included.
public enum LineEditor {
    /// The edited lines, and for each output line the index of the input line it came from
    /// (the first line of a replacement counts as coming from the line it replaced; nil for
    /// inserted lines).
    ///
    /// New lines take the file's dominant line ending; a replaced line keeps its own. A file
    /// without a final newline stays without one.
    public static func apply(_ edits: [LineEdit], to input: TextLines) -> (lines: TextLines, origin: [Int?]) {
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
        var origin: [Int?] = []
        out.reserveCapacity(input.lines.count + edits.count)
        origin.reserveCapacity(input.lines.count + edits.count)
        // the lines between edited ones are copied a run at a time: a plan edits a handful of a
        // file's lines, and the file may have 50,000
        var next = 0
        for index in Set(inserts.keys).union(replaces.keys).sorted() where index <= input.lines.count {
            out += input.lines[next..<index]
            origin += (next..<index).map { $0 }
            for text in inserts[index] ?? [] {
                out.append(TextLine(text, ending: ending))
                origin.append(nil)
            }
            next = index
            guard index < input.lines.count else { break }
            let line = input.lines[index]
            if let replacement = replaces[index] {
                for (k, text) in replacement.enumerated() {
                    // the first replacement line keeps the original's ending
                    out.append(TextLine(text, ending: k == 0 && line.ending != .none ? line.ending : ending))
                    origin.append(k == 0 ? index : nil)
                }
            } else {
                out.append(line)
                origin.append(index)
            }
            next = index + 1
        }
        out += input.lines[next...]
        origin += (next..<input.lines.count).map { $0 }
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
