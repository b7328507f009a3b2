/// The subset of TOML that sanpath's own files use (site file, daemon config, profile metadata),
/// parsed with the line and column of every value so that a bad value can be named exactly.
///
/// Supported: `#` comments, `[table]` and `[a.b]` headers, bare keys, basic strings with the
/// usual escapes, literal strings, integers, booleans and arrays (also over several lines).
/// Everything else TOML has (floats, dates, inline tables, multi-line strings, arrays of tables)
/// is rejected with a message saying so. No TOML library in our package set gives value
/// positions, and errors without positions are not good enough for an admin.
public enum SiteTOML {
    /// A parsed value and where it starts.
    public indirect enum Value: Sendable, Hashable {
        case string(String, SourceLocation)
        case integer(Int, SourceLocation)
        case boolean(Bool, SourceLocation)
        case array([Value], SourceLocation)
        case table(Table)

        /// Where the value starts.
        public var location: SourceLocation {
            switch self {
            case .string(_, let l), .integer(_, let l), .boolean(_, let l), .array(_, let l): l
            case .table(let t): t.location
            }
        }

        /// A name for the value's type, for error messages.
        public var typeName: String {
            switch self {
            case .string: "a string"
            case .integer: "an integer"
            case .boolean: "a boolean"
            case .array: "an array"
            case .table: "a table"
            }
        }
    }

    /// A table: keys in file order, each with its value.
    public struct Table: Sendable, Hashable {
        /// Key and value pairs in the order they appear.
        public var entries: [(key: String, value: Value)] {
            get { keys.map { ($0, values[$0]!) } }
        }
        /// Where the table header (or the file) starts.
        public var location: SourceLocation
        /// Where each key was written.
        public var keyLocations: [String: SourceLocation] = [:]

        private var keys: [String] = []
        private var values: [String: Value] = [:]

        /// An empty table.
        public init(location: SourceLocation) { self.location = location }

        /// The value of a key.
        public subscript(key: String) -> Value? { values[key] }

        /// Keys in file order.
        public var orderedKeys: [String] { keys }

        mutating func set(_ key: String, _ value: Value, at location: SourceLocation) {
            if values[key] == nil { keys.append(key) }
            values[key] = value
            keyLocations[key] = location
        }

        public static func == (lhs: Table, rhs: Table) -> Bool {
            lhs.keys == rhs.keys && lhs.values == rhs.values
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(keys)
        }
    }

    /// Parses a document; the first problem is thrown with its file, line and column.
    public static func parse(_ text: String, source: String) throws(SanpathError) -> Table {
        var parser = Parser(text: text, source: source)
        return try parser.parseDocument()
    }
}

private struct Parser {
    let scalars: [Unicode.Scalar]
    let source: String
    var index = 0
    var line = 1
    var lineStart = 0
    /// Arrays open around the value being parsed.
    var depth = 0
    /// Deeper nesting is an error, not a stack overflow (found by scripts/fuzz: 2 KB of `[` crashed it).
    static let maximumDepth = 32

    init(text: String, source: String) {
        self.scalars = Array(text.unicodeScalars)
        self.source = source
    }

    var location: SourceLocation { SourceLocation(source: source, line: line, column: index - lineStart + 1) }
    var atEnd: Bool { index >= scalars.count }
    var current: Unicode.Scalar? { atEnd ? nil : scalars[index] }

    func fail(_ message: String, at location: SourceLocation? = nil, text: String? = nil) -> SanpathError {
        let where_ = location ?? self.location
        return SanpathError(
            .invalidSite, message, at: where_,
            diagnostics: [Diagnostic(.error, at: where_, message, text: text)])
    }

    mutating func advance() {
        if scalars[index] == "\n" {
            line += 1
            lineStart = index + 1
        }
        index += 1
    }

    mutating func skipSpaces() {
        while let c = current, c == " " || c == "\t" { advance() }
    }

    /// Spaces, comments and newlines (inside arrays, between statements).
    mutating func skipTrivia() {
        while let c = current {
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                advance()
            } else if c == "#" {
                while let d = current, d != "\n" { advance() }
            } else {
                break
            }
        }
    }

    /// After a statement only a comment and the end of the line may follow.
    mutating func expectEndOfLine() throws(SanpathError) {
        skipSpaces()
        if current == "#" {
            while let d = current, d != "\n" { advance() }
        }
        if current == "\r" { advance() }
        guard atEnd || current == "\n" else {
            throw fail("unexpected text after the value", text: restOfLine())
        }
        if !atEnd { advance() }
    }

    func restOfLine() -> String {
        var end = index
        while end < scalars.count, scalars[end] != "\n", scalars[end] != "\r" { end += 1 }
        return String(String.UnicodeScalarView(scalars[index..<end]))
    }

    static func isBareKeyScalar(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "A"..."Z", "a"..."z", "0"..."9", "_", "-": true
        default: false
        }
    }

    mutating func parseKey() throws(SanpathError) -> [String] {
        var parts: [String] = []
        repeat {
            skipSpaces()
            let start = index
            if current == "\"" || current == "'" {
                throw fail("quoted keys are not supported in sanpath files; use a bare key (letters, digits, _ and -)")
            }
            while let c = current, Parser.isBareKeyScalar(c) { advance() }
            guard index > start else {
                throw fail("expected a key (letters, digits, _ and -)", text: restOfLine())
            }
            parts.append(String(String.UnicodeScalarView(scalars[start..<index])))
            skipSpaces()
            guard current == "." else { break }
            advance()
        } while true
        return parts
    }

    mutating func parseDocument() throws(SanpathError) -> SiteTOML.Table {
        var root = SiteTOML.Table(location: SourceLocation(source: source, line: 1, column: 1))
        var currentPath: [String] = []
        var definedTables: Set<[String]> = []
        while true {
            skipTrivia()
            guard let c = current else { break }
            if c == "[" {
                let headerLocation = location
                advance()
                if current == "[" {
                    throw fail("arrays of tables ([[...]]) are not supported in sanpath files")
                }
                let path = try parseKey()
                guard current == "]" else { throw fail("expected ']' to close the table header", text: restOfLine()) }
                advance()
                try expectEndOfLine()
                guard definedTables.insert(path).inserted else {
                    throw fail("table [\(path.joined(separator: "."))] is defined twice", at: headerLocation)
                }
                try root.ensureTable(path, at: headerLocation, parser: self)
                currentPath = path
            } else {
                let keyLocation = location
                let key = try parseKey()
                guard current == "=" else {
                    throw fail("expected '=' after the key '\(key.joined(separator: "."))'", text: restOfLine())
                }
                advance()
                skipSpaces()
                let value = try parseValue()
                try expectEndOfLine()
                try root.insert(value, at: currentPath + key, keyLocation: keyLocation, parser: self)
            }
        }
        return root
    }

    mutating func parseValue() throws(SanpathError) -> SiteTOML.Value {
        let start = location
        guard let c = current, c != "\n", c != "\r" else { throw fail("missing value after '='") }
        switch c {
        case "\"":
            if index + 2 < scalars.count, scalars[index + 1] == "\"", scalars[index + 2] == "\"" {
                throw fail("multi-line strings are not supported in sanpath files")
            }
            return .string(try parseBasicString(), start)
        case "'":
            if index + 2 < scalars.count, scalars[index + 1] == "'", scalars[index + 2] == "'" {
                throw fail("multi-line strings are not supported in sanpath files")
            }
            advance()
            var text = String.UnicodeScalarView()
            while let d = current, d != "'" {
                guard d != "\n" else { throw fail("unterminated string", at: start) }
                text.append(d)
                advance()
            }
            guard current == "'" else { throw fail("unterminated string", at: start) }
            advance()
            return .string(String(text), start)
        case "[":
            guard depth < Parser.maximumDepth else {
                throw fail("arrays nested deeper than \(Parser.maximumDepth) levels are not supported in sanpath files")
            }
            depth += 1
            defer { depth -= 1 }
            advance()
            var items: [SiteTOML.Value] = []
            while true {
                skipTrivia()
                guard let d = current else { throw fail("unterminated array", at: start) }
                if d == "]" {
                    advance()
                    break
                }
                items.append(try parseValue())
                skipTrivia()
                if current == "," {
                    advance()
                } else if current == "]" {
                    advance()
                    break
                } else {
                    throw fail("expected ',' or ']' in the array", text: restOfLine())
                }
            }
            return .array(items, start)
        case "{":
            throw fail("inline tables are not supported in sanpath files; use a [table] header")
        default:
            var end = index
            while end < scalars.count, !" \t\r\n#,]".unicodeScalars.contains(scalars[end]) { end += 1 }
            let word = String(String.UnicodeScalarView(scalars[index..<end]))
            if word == "true" || word == "false" {
                index = end
                return .boolean(word == "true", start)
            }
            let digits = word.replacingOccurrences(of: "_", with: "")
            if let number = Int(digits), !word.hasPrefix("_"), !word.hasSuffix("_") {
                index = end
                return .integer(number, start)
            }
            if word.contains("."), Double(digits) != nil {
                throw fail("floating-point values are not supported in sanpath files", text: word)
            }
            throw fail("a string value must be quoted", text: word.isEmpty ? restOfLine() : word)
        }
    }

    mutating func parseBasicString() throws(SanpathError) -> String {
        let start = location
        advance()
        var text = String.UnicodeScalarView()
        while true {
            guard let c = current, c != "\n" else { throw fail("unterminated string", at: start) }
            advance()
            if c == "\"" { break }
            if c == "\\" {
                guard let e = current else { throw fail("unterminated string", at: start) }
                let escapeLocation = location
                advance()
                switch e {
                case "\"": text.append("\"")
                case "\\": text.append("\\")
                case "n": text.append("\n")
                case "t": text.append("\t")
                case "r": text.append("\r")
                case "b": text.append("\u{08}")
                case "f": text.append("\u{0C}")
                case "u", "U":
                    let count = e == "u" ? 4 : 8
                    guard index + count <= scalars.count,
                        let value = UInt32(String(String.UnicodeScalarView(scalars[index..<index + count])), radix: 16),
                        let scalar = Unicode.Scalar(value)
                    else { throw fail("invalid \\\(e) escape", at: escapeLocation) }
                    for _ in 0..<count { advance() }
                    text.append(scalar)
                default:
                    throw fail("invalid escape '\\\(e)' in a string", at: escapeLocation)
                }
            } else {
                text.append(c)
            }
        }
        return String(text)
    }
}

extension SiteTOML.Table {
    fileprivate mutating func ensureTable(
        _ path: [String], at location: SourceLocation, parser: Parser
    ) throws(SanpathError) {
        guard let first = path.first else { return }
        var child: SiteTOML.Table
        switch self[first] {
        case .none:
            child = SiteTOML.Table(location: location)
        case .table(let existing):
            child = existing
        case .some(let other):
            throw parser.fail("'\(first)' is already \(other.typeName), not a table", at: location)
        }
        try child.ensureTable(Array(path.dropFirst()), at: location, parser: parser)
        set(first, .table(child), at: location)
    }

    fileprivate mutating func insert(
        _ value: SiteTOML.Value, at path: [String], keyLocation: SourceLocation, parser: Parser
    ) throws(SanpathError) {
        guard let first = path.first else { return }
        if path.count == 1 {
            if self[first] != nil {
                throw parser.fail("the key '\(first)' is set twice", at: keyLocation)
            }
            set(first, value, at: keyLocation)
            return
        }
        var child: SiteTOML.Table
        switch self[first] {
        case .none: child = SiteTOML.Table(location: keyLocation)
        case .table(let existing): child = existing
        case .some(let other):
            throw parser.fail("'\(first)' is already \(other.typeName), not a table", at: keyLocation)
        }
        try child.insert(value, at: Array(path.dropFirst()), keyLocation: keyLocation, parser: parser)
        set(first, .table(child), at: keyLocation)
    }
}
