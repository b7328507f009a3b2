/// Where a piece of configuration came from: a file (or another named source such as a
/// command-line flag), a 1-based line and a 1-based column.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// The file path, or a name such as `--paths` for text that came from a flag.
    public var source: String
    /// 1-based line number; `nil` when the source has no lines (a flag value).
    public var line: Int?
    /// 1-based column, counted in characters; `nil` when unknown.
    public var column: Int?

    /// Creates a location.
    public init(source: String, line: Int? = nil, column: Int? = nil) {
        self.source = source
        self.line = line
        self.column = column
    }

    /// The same source and line, another column.
    public func at(column: Int) -> SourceLocation {
        SourceLocation(source: source, line: line, column: column)
    }

    /// `file:line:col`, the form editors and compilers use.
    public var description: String {
        var text = source
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        } else if let column {
            text += " (column \(column))"
        }
        return text
    }
}
