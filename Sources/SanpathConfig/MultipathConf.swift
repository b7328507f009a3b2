import SanpathCore

/// A multipath.conf, parsed by multipath-tools' rules and kept lossless: the document is its
/// lines, and the tree points into them. `text` is always the exact input.
///
/// Tokenising follows libmpathutil's `alloc_strvec`: a line is a comment when its first
/// non-blank character is `#` or `!`; outside double quotes `#` and `!` start a comment anywhere;
/// `{` and `}` are tokens of their own; a quoted value may contain `""` for a literal quote.
public struct MultipathConf: Sendable {
    /// The file as lines.
    public private(set) var lines: TextLines
    /// File name for diagnostics.
    public let source: String
    /// The top-level sections and stray top-level settings, in file order.
    public private(set) var root: [MultipathEntry] = []
    /// Structural problems (errors) found while parsing; an empty list means the tree is sound.
    public private(set) var syntaxDiagnostics: [Diagnostic] = []
    /// Indices into `root` of the entries `applying` parsed anew since the tree was parsed from a
    /// whole file (empty for that); every other entry is that file's, byte for byte, moved.
    public private(set) var editedEntries: [Int] = []

    /// Parses a file's text.
    public init(text: String, source: String) {
        self.init(lines: TextLines(splitting: text), source: source)
    }

    /// Parses lines.
    public init(lines: TextLines, source: String) {
        self.lines = lines
        self.source = source
        var builder = TreeBuilder(source: source)
        builder.feed(lines, 0..<lines.lines.count)
        let (root, diagnostics) = builder.finish()
        self.root = root
        self.syntaxDiagnostics = diagnostics
    }

    /// The file with `edits` applied, and where each of its lines came from: the same tree a
    /// parse of the whole edited file gives, but only the top-level sections (and stray settings)
    /// the edits touch are parsed again; the others are carried over with their lines moved. A
    /// 10,000-map file edited in `defaults` and `devices` is not parsed again for its `multipaths`.
    ///
    /// Consuming: a caller that hands over its only copy lets the carried entries be moved in
    /// place instead of copied.
    public consuming func applying(_ edits: [LineEdit]) -> (conf: MultipathConf, origin: LineOrigin) {
        let (newLines, origin) = LineEditor.apply(edits, to: lines)
        if newLines == lines { return (self, origin) }
        func parsedWhole() -> MultipathConf {
            var whole = MultipathConf(lines: newLines, source: source)
            whole.editedEntries = Array(whole.root.indices)
            return whole
        }
        // a broken tree's entries may end anywhere: only a sound one is cut into entries
        guard syntaxDiagnostics.isEmpty else { return (parsedWhole(), origin) }
        var touched = [Bool](repeating: false, count: root.count)
        for edit in edits {
            // a line replaced inside an entry, or lines inserted after its first line
            let line = edit.anchor
            var (index, end) = (0, root.count)  // the first entry that ends at or after `line`
            while index < end {
                let middle = (index + end) / 2
                if root[middle].lastLine < line { index = middle + 1 } else { end = middle }
            }
            guard index < root.count else { continue }
            switch edit {
            case .replace: if root[index].firstLine <= line { touched[index] = true }
            case .insert: if root[index].firstLine < line { touched[index] = true }
            }
        }
        let wasEdited = Set(editedEntries)
        var builder = TreeBuilder(source: source)
        var next = 0  // first line of the new file not yet in the tree
        var oldRoot: [MultipathEntry] = []
        swap(&oldRoot, &root)
        for index in oldRoot.indices where !touched[index] {
            // taken out of the old tree, so that moving it need not copy it
            var entry = MultipathEntry.placeholder
            swap(&entry, &oldRoot[index])
            let first = entry.firstLine
            let moved = origin.newIndex(ofKept: first)
            builder.feed(newLines, next..<moved)
            // the lines before it must leave the parser where the old file's did: at the top level, clean
            guard builder.isAtTopLevel else { return (parsedWhole(), origin) }
            next = moved + entry.lastLine - first + 1
            entry.move(by: moved - first)
            builder.carry(entry, edited: wasEdited.contains(index))
        }
        builder.feed(newLines, next..<newLines.lines.count)
        guard builder.isAtTopLevel else { return (parsedWhole(), origin) }
        let (newRoot, diagnostics) = builder.finish()
        guard diagnostics.isEmpty else { return (parsedWhole(), origin) }
        lines = newLines
        root = newRoot
        editedEntries = builder.editedEntries
        return (self, origin)
    }

    /// The exact text.
    public var text: String { lines.joined }

    /// Top-level sections named `name`, in file order.
    public func sections(named name: String) -> [MultipathSection] {
        root.compactMap {
            if case .section(let s) = $0, s.name == name { return s }
            return nil
        }
    }

    /// Every section in the file, depth first, with its parent's name.
    public func allSections() -> [(parent: String?, section: MultipathSection)] {
        var out: [(String?, MultipathSection)] = []
        func walk(_ entries: [MultipathEntry], parent: String?) {
            for case .section(let s) in entries {
                out.append((parent, s))
                walk(s.entries, parent: s.name)
            }
        }
        walk(root, parent: nil)
        return out
    }

    /// The location of a 0-based line index.
    public func location(line index: Int, column: Int = 1) -> SourceLocation {
        SourceLocation(source: source, line: index + 1, column: column)
    }

    /// The comment that says why a setting is there: the comment lines right above it or, when
    /// it has none, the nearest comment block above it in its section (one comment for a group
    /// of keys), as one line. Nil when nothing in the section above it is a comment.
    public func explanation(of setting: MultipathSetting, in section: MultipathSection) -> String? {
        lines.commentBlock(above: setting.line, floor: section.headerLine, markers: ["#", "!"])
    }
}

/// A section or a setting.
public enum MultipathEntry: Sendable, Hashable {
    /// `name value` on one line.
    case setting(MultipathSetting)
    /// `name {` … `}`.
    case section(MultipathSection)
}

extension MultipathEntry {
    /// 0-based index of its first line (the setting's, or the section's header).
    var firstLine: Int {
        switch self {
        case .setting(let s): s.line
        case .section(let s): s.headerLine
        }
    }

    /// 0-based index of its last line (the section's `}`; its header when it has none).
    var lastLine: Int {
        switch self {
        case .setting(let s): s.line
        case .section(let s): s.closeLine ?? s.headerLine
        }
    }

    /// Stands in for an entry taken out of its array.
    static let placeholder = MultipathEntry.setting(
        MultipathSetting(key: "", value: "", quoted: false, line: 0, keyColumn: 0, valueColumn: 0, valueRange: 0..<0))

    /// Moves the entry `offset` lines further down the file, in place where its storage is not shared.
    mutating func move(by offset: Int) {
        guard offset != 0 else { return }
        switch self {
        case .setting(var s):
            s.line += offset
            self = .setting(s)
        case .section(var s):
            self = Self.placeholder  // the section's only holder is now `s`: its entries change in place
            s.headerLine += offset
            s.closeLine = s.closeLine.map { $0 + offset }
            for i in s.entries.indices { s.entries[i].move(by: offset) }
            self = .section(s)
        }
    }
}

/// A `name {` … `}` block.
public struct MultipathSection: Sendable, Hashable {
    /// `defaults`, `devices`, `device`, …
    public var name: String
    /// 0-based index of the line with `name {`.
    public var headerLine: Int
    /// 0-based index of the line with the closing `}`; nil when missing (a syntax error).
    public var closeLine: Int?
    /// Children in file order.
    public var entries: [MultipathEntry]
    /// Column of the section name.
    public var column: Int

    /// Settings directly inside, in file order.
    public var settings: [MultipathSetting] {
        entries.compactMap {
            if case .setting(let s) = $0 { return s }
            return nil
        }
    }

    /// Sub-sections directly inside.
    public var subsections: [MultipathSection] {
        entries.compactMap {
            if case .section(let s) = $0 { return s }
            return nil
        }
    }

    /// The effective value of a key here: the last occurrence wins in multipath-tools.
    public func value(of key: String) -> String? {
        settings.last { $0.key == key }?.value
    }
}

/// One `keyword value` line.
public struct MultipathSetting: Sendable, Hashable {
    /// The keyword.
    public var key: String
    /// The value with quotes removed and `""` turned into `"`.
    public var value: String
    /// Whether the value was written in double quotes.
    public var quoted: Bool
    /// 0-based line index.
    public var line: Int
    /// 1-based column of the keyword.
    public var keyColumn: Int
    /// 1-based column where the value starts (its opening quote, if quoted).
    public var valueColumn: Int
    /// UTF-8 offsets of the written value within the line (quotes included).
    public var valueRange: Range<Int>
}

/// A line split into multipath-tools tokens.
struct MultipathLine {
    /// One token: a word, a quoted string, or `{` / `}`.
    struct Token {
        enum Kind { case word, quoted, open, close }
        var kind: Kind
        var text: String
        /// 1-based column (in characters) where the token starts.
        var column: Int
        /// UTF-8 offsets in the line, quotes included.
        var range: Range<Int>
    }

    var tokens: [Token] = []
    /// A quoted string ran to the end of the line.
    var unterminatedQuote: Token?
    /// The line is blank or a comment only.
    var isTrivia: Bool { tokens.isEmpty && unterminatedQuote == nil }

    /// No tokens yet: `read` a line into it.
    init() {
        tokens.reserveCapacity(3)  // keyword, value, and one more to report
    }

    /// Tokenises one line in place of the last one, on the string's own bytes and in the same
    /// token storage: a 10,000-map file has 50,000 lines, and copies add up.
    mutating func read(_ text: String) {
        tokens.removeAll(keepingCapacity: true)
        unterminatedQuote = nil
        var text = text
        text.withUTF8 { tokenize($0) }
    }

    private mutating func tokenize(_ bytes: UnsafeBufferPointer<UInt8>) {
        var i = 0
        // characters before byte `offset`, for columns (multi-byte UTF-8 counts once); tokens come
        // in order, so the count carries on from the previous token
        var counted = 0
        var characters = 0
        func column(_ offset: Int) -> Int {
            while counted < offset {
                if bytes[counted] & 0xC0 != 0x80 { characters += 1 }
                counted += 1
            }
            return characters + 1
        }
        // libmpathutil skips isspace() and every non-ASCII byte between tokens
        func isSeparator(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) || b >= 0x80 }
        while i < bytes.count, isSeparator(bytes[i]) { i += 1 }
        if i >= bytes.count || bytes[i] == UInt8(ascii: "#") || bytes[i] == UInt8(ascii: "!") { return }
        while i < bytes.count {
            let start = i
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                var value: [UInt8] = []
                var closed = false
                while i < bytes.count {
                    if bytes[i] == UInt8(ascii: "\"") {
                        if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") {
                            value.append(UInt8(ascii: "\""))
                            i += 2
                            continue
                        }
                        i += 1
                        closed = true
                        break
                    }
                    value.append(bytes[i])
                    i += 1
                }
                let token = Token(
                    kind: .quoted, text: String(decoding: value, as: UTF8.self), column: column(start), range: start..<i)
                if !closed {
                    unterminatedQuote = token
                    return
                }
                tokens.append(token)
            } else if b == UInt8(ascii: "{") || b == UInt8(ascii: "}") {
                i += 1
                tokens.append(Token(kind: b == UInt8(ascii: "{") ? .open : .close, text: String(UnicodeScalar(b)), column: column(start), range: start..<i))
            } else {
                while i < bytes.count {
                    let c = bytes[i]
                    if isSeparator(c) || c == UInt8(ascii: "!") || c == UInt8(ascii: "#") || c == UInt8(ascii: "{")
                        || c == UInt8(ascii: "}") || c == UInt8(ascii: "\"")
                    {
                        break
                    }
                    i += 1
                }
                tokens.append(Token(kind: .word, text: String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self), column: column(start), range: start..<i))
            }
            while i < bytes.count, isSeparator(bytes[i]) { i += 1 }
            if i < bytes.count, bytes[i] == UInt8(ascii: "#") || bytes[i] == UInt8(ascii: "!") { return }
        }
    }
}

/// Builds the section tree line by line and records structural errors as multipath-tools
/// would report them (with the column sanpath adds).
private struct TreeBuilder {
    let source: String
    /// The open sections, innermost last, each with the sub-sections allowed in it (looked up
    /// once per section rather than once per line).
    var stack: [(section: MultipathSection, subsections: Set<String>)] = []
    var root: [MultipathEntry] = []
    var diagnostics: [Diagnostic] = []
    /// A section keyword seen without `{`: the next line may hold a lone `{` (an error either way).
    var pendingHeader: (name: String, line: Int, column: Int)?
    /// Indices into `root` of the entries parsed here, and of carried ones marked edited.
    var editedEntries: [Int] = []
    /// The token buffer every line is read into in turn.
    var line = MultipathLine()

    init(source: String) { self.source = source }

    /// At the top level, no section header waiting for its `{`, nothing wrong so far.
    var isAtTopLevel: Bool { stack.isEmpty && pendingHeader == nil && diagnostics.isEmpty }

    /// Parses lines `range` of `lines`.
    mutating func feed(_ lines: TextLines, _ range: Range<Int>) {
        for index in range {
            line.read(lines.lines[index].text)
            feed(line, index: index)
        }
    }

    /// Puts an entry parsed before, whose lines are unchanged, at the top level.
    mutating func carry(_ entry: consuming MultipathEntry, edited: Bool) {
        if edited { editedEntries.append(root.count) }
        root.append(entry)
    }

    func at(_ line: Int, _ column: Int) -> SourceLocation { SourceLocation(source: source, line: line + 1, column: column) }

    mutating func error(_ line: Int, _ column: Int, _ message: String, _ text: String) {
        diagnostics.append(Diagnostic(.error, at: at(line, column), message, text: text))
    }

    // consuming: the entry moves into its section instead of being copied and the original freed
    mutating func append(_ entry: consuming MultipathEntry) {
        if stack.isEmpty {
            editedEntries.append(root.count)
            root.append(entry)
        } else {
            stack[stack.count - 1].section.entries.append(entry)
        }
    }

    mutating func open(_ name: String, line: Int, column: Int) {
        // room for a multipath or device section's few settings in one allocation, not three
        var entries: [MultipathEntry] = []
        entries.reserveCapacity(4)
        stack.append(
            (MultipathSection(name: name, headerLine: line, closeLine: nil, entries: entries, column: column),
             MultipathGrammar.sections(allowedIn: name)))
    }

    mutating func feed(_ parsed: MultipathLine, index: Int) {
        if let quote = parsed.unterminatedQuote {
            error(index, quote.column, "missing closing '\"'", "\"" + quote.text)
            return
        }
        guard let first = parsed.tokens.first else { return }
        let tokens = parsed.tokens
        // the innermost open section before this line, read in place (`stack.last` would copy it)
        let innermost = stack.indices.last
        let parent = innermost.map { stack[$0].section.name }
        let sectionsHere = innermost.map { stack[$0].subsections } ?? MultipathGrammar.sections(allowedIn: nil)

        if let pending = pendingHeader {
            pendingHeader = nil
            if first.kind == .open {
                error(
                    index, first.column,
                    "'{' must be on the same line as '\(pending.name)' (multipath-tools reads this as \"missing '{'\")", "{")
                open(pending.name, line: pending.line, column: pending.column)
                if tokens.count > 1 {
                    error(index, tokens[1].column, "unexpected text after '{'", tokens[1].text)
                }
                return
            }
            error(pending.line, pending.column, "missing '{' after section '\(pending.name)'", pending.name)
            open(pending.name, line: pending.line, column: pending.column)
        }

        switch first.kind {
        case .close:
            if tokens.count > 1 {
                error(index, tokens[1].column, "unexpected text after '}' (multipath-tools ignores it)", tokens[1].text)
            }
            guard var section = stack.popLast()?.section else {
                error(index, first.column, "unmatched '}'", "}")
                return
            }
            section.closeLine = index
            append(.section(section))
        case .open:
            error(index, first.column, "'{' without a section name before it", "{")
        case .quoted:
            error(index, first.column, "a keyword must not be quoted", "\"" + first.text + "\"")
        case .word:
            let name = first.text
            let isSection = sectionsHere.contains(name)
            if tokens.count >= 2, tokens[1].kind == .open {
                guard isSection else {
                    let place = parent.map { "in the \($0) section" } ?? "at the top level"
                    error(index, first.column, "unknown section '\(name)' \(place)", name)
                    // keep the structure balanced so later errors stay meaningful
                    open(name, line: index, column: first.column)
                    return
                }
                if tokens.count > 2 {
                    error(
                        index, tokens[2].column,
                        "unexpected text after '{' (multipath-tools ignores the rest of the line; put one setting per line)",
                        tokens[2].text)
                }
                open(name, line: index, column: first.column)
                return
            }
            if isSection {
                if tokens.count == 1 {
                    pendingHeader = (name, index, first.column)
                } else {
                    error(index, tokens[1].column, "expected '{' after section '\(name)'", tokens[1].text)
                    open(name, line: index, column: first.column)
                }
                return
            }
            guard tokens.count >= 2 else {
                error(index, first.column, "missing value for '\(name)'", name)
                return
            }
            let value = tokens[1]
            if value.kind == .open || value.kind == .close {
                error(index, value.column, "expected a value for '\(name)', found '\(value.text)'", value.text)
                return
            }
            if tokens.count > 2 {
                let extra = tokens[2]
                let hint = value.kind == .word ? "; quote a value with spaces: \(name) \"\(value.text) \(extra.text)\"" : ""
                error(
                    index, extra.column, "unexpected text after the value of '\(name)' (multipath-tools ignores it)\(hint)",
                    extra.text)
            }
            append(
                .setting(
                    MultipathSetting(
                        key: name, value: value.text, quoted: value.kind == .quoted, line: index, keyColumn: first.column,
                        valueColumn: value.column, valueRange: value.range)))
        }
    }

    mutating func finish() -> ([MultipathEntry], [Diagnostic]) {
        if let pending = pendingHeader {
            error(pending.line, pending.column, "missing '{' after section '\(pending.name)'", pending.name)
        }
        while let section = stack.popLast()?.section {
            error(section.headerLine, section.column, "section '\(section.name)' is never closed: missing '}'", section.name)
            append(.section(section))
        }
        return (root, diagnostics)
    }
}
