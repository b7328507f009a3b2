/// The error every sanpath library throws: a code a program can switch on, a message a person
/// can act on, where it happened, and what caused it underneath.
///
/// Exit codes are decided only in the executable, from `code`.
public struct SanpathError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Extensible: libraries add their own codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A short stable identifier, e.g. `invalid-site`.
        public let name: String
        /// Creates a code.
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A site source holds a malformed or inconsistent value.
        public static let invalidSite = Code("invalid-site")
        /// A configuration file cannot be parsed (or would be rejected by its consumer).
        public static let invalidConfig = Code("invalid-config")
        /// A template or profile is broken.
        public static let invalidProfile = Code("invalid-profile")
        /// Reading or writing a file failed.
        public static let io = Code("io")
        /// A command sanpath ran failed.
        public static let command = Code("command")
        /// The request cannot be carried out in the current state (e.g. nothing to roll back).
        public static let state = Code("state")
        /// The command line is wrong.
        public static let usage = Code("usage")
    }

    /// What kind of failure.
    public var code: Code
    /// What went wrong, for a person.
    public var message: String
    /// Where, for configuration errors.
    public var location: SourceLocation?
    /// Every finding behind this error (a parse can report several problems at once).
    public var diagnostics: [Diagnostic]
    /// The lower-level error, if any.
    public var underlying: (any Error & Sendable)?

    /// Creates an error.
    public init(
        _ code: Code, _ message: String, at location: SourceLocation? = nil,
        diagnostics: [Diagnostic] = [], underlying: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.location = location
        self.diagnostics = diagnostics
        self.underlying = underlying
    }

    /// An error carrying the error-severity diagnostics of a parse.
    public static func invalidConfig(_ diagnostics: [Diagnostic]) -> SanpathError {
        let errors = diagnostics.filter { $0.severity == .error }
        let first = errors.first ?? diagnostics.first
        return SanpathError(
            .invalidConfig,
            first.map { $0.message } ?? "invalid configuration",
            at: first?.location,
            diagnostics: errors.isEmpty ? diagnostics : errors)
    }

    public var description: String {
        if !diagnostics.isEmpty {
            return diagnostics.map(\.description).joined(separator: "\n")
        }
        var text = ""
        if let location { text += "\(location): " }
        text += message
        if let underlying { text += " (\(underlying))" }
        return text
    }
}
