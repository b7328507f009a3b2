/// A finding about a configuration text: something a parser rejected, or something the
/// consuming program (multipath-tools, open-iscsi) would ignore or has deprecated.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    /// How bad it is.
    public enum Severity: String, Sendable, Hashable, Comparable {
        /// The text cannot be used: nothing is written while it stands.
        case error
        /// The consuming program ignores or deprecates this; sanpath can fix it.
        case warning
        /// Worth knowing; changes nothing.
        case note

        private var rank: Int {
            switch self {
            case .error: 2
            case .warning: 1
            case .note: 0
            }
        }

        public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
    }

    /// How bad it is.
    public var severity: Severity
    /// Where it is.
    public var location: SourceLocation
    /// What is wrong, in words an admin can act on.
    public var message: String
    /// The offending text, already redacted when it held a secret.
    public var text: String?

    /// Creates a diagnostic.
    public init(_ severity: Severity, at location: SourceLocation, _ message: String, text: String? = nil) {
        self.severity = severity
        self.location = location
        self.message = message
        self.text = text
    }

    /// `file:line:col: error: message: 'text'`.
    public var description: String {
        var line = "\(location): \(severity.rawValue): \(message)"
        if let text, !text.isEmpty { line += ": '\(text)'" }
        return line
    }
}
