import Foundation

/// Small string helpers the grammars share.
extension String {
    /// Without leading and trailing spaces, tabs, CR and LF.
    public func trimmingWhitespace() -> String {
        trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The leading run of spaces and tabs.
    public var leadingIndentation: String {
        String(prefix(while: { $0 == " " || $0 == "\t" }))
    }
}

extension Unicode.Scalar {
    /// Space, tab, CR, LF, vertical tab or form feed (C `isspace` in the C locale).
    public var isAsciiSpace: Bool {
        switch value {
        case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D: true
        default: false
        }
    }
}
