/// How one line of a text file ends. Kept per line so that parse-then-print is byte-identical.
public enum LineEnding: String, Sendable, Hashable {
    /// `\n`
    case lf = "\n"
    /// `\r\n`
    case crlf = "\r\n"
    /// No terminator: only the last line of a file without a final newline.
    case none = ""
}

/// One line of a text file: its text without the terminator, and the terminator.
public struct TextLine: Sendable, Hashable {
    /// The line's characters, without the line ending.
    public var text: String
    /// The line ending that followed it in the file.
    public var ending: LineEnding

    /// Creates a line.
    public init(_ text: String, ending: LineEnding = .lf) {
        self.text = text
        self.ending = ending
    }
}

/// A text file as lines, lossless: `joined` gives back exactly the bytes that were split.
public struct TextLines: Sendable, Hashable {
    /// The lines in file order.
    public var lines: [TextLine]

    /// Wraps lines.
    public init(_ lines: [TextLine]) { self.lines = lines }

    /// Splits text at `\n`; a `\r` right before it belongs to the line ending.
    public init(splitting text: String) {
        var text = text
        self.init(text.withUTF8 { Self.lines(of: $0) { line, _ in String(decoding: line, as: UTF8.self) } } ?? [])
    }

    /// Decodes file bytes, refusing anything that is not UTF-8 (it could not be printed back
    /// byte for byte).
    public init(bytes: [UInt8], source: String) throws(SanpathError) {
        // each line validated as it is made (an ASCII line needs no check): a '\n' byte is never
        // inside a UTF-8 sequence, so the lines are valid exactly when the file is, and the file is
        // not copied whole twice first
        let lines = bytes.withUnsafeBufferPointer {
            Self.lines(of: $0) { line, ascii in
                ascii ? String(decoding: line, as: UTF8.self) : String(validating: line, as: UTF8.self)
            }
        }
        if let lines {
            self.init(lines)
            return
        }
        var offset = 0
        var line = 1
        // find the first byte where decoding fails, for the error location
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                offset += String(scalar).utf8.count
                if scalar == "\n" { line += 1 }
            case .emptyInput: break loop
            case .error: break loop
            }
        }
        throw SanpathError(
            .invalidConfig, "not UTF-8 text (invalid byte at offset \(offset)); sanpath only edits text files",
            at: SourceLocation(source: source, line: line))
    }

    /// The bytes split at `\n` (a `\r` right before it belongs to the line ending), each line's
    /// text made by `text` from its bytes and whether they are all ASCII; nil when `text` makes
    /// none for a line.
    private static func lines(
        of bytes: UnsafeBufferPointer<UInt8>, _ text: (UnsafeBufferPointer<UInt8>, _ ascii: Bool) -> String?
    ) -> [TextLine]? {
        var lines: [TextLine] = []
        var start = 0
        var index = 0
        var ascii = true
        while index < bytes.count {
            if bytes[index] == 0x0A {
                let crlf = index > start && bytes[index - 1] == 0x0D
                let end = crlf ? index - 1 : index
                guard let line = text(UnsafeBufferPointer(rebasing: bytes[start..<end]), ascii) else { return nil }
                lines.append(TextLine(line, ending: crlf ? .crlf : .lf))
                start = index + 1
                ascii = true
            } else if bytes[index] >= 0x80 {
                ascii = false
            }
            index += 1
        }
        if start < bytes.count {
            guard let line = text(UnsafeBufferPointer(rebasing: bytes[start...]), ascii) else { return nil }
            lines.append(TextLine(line, ending: .none))
        }
        return lines
    }

    /// The exact text: every line followed by its own ending.
    public var joined: String {
        var out = ""
        out.reserveCapacity(lines.reduce(0) { $0 + $1.text.utf8.count + 2 })
        for line in lines {
            out += line.text
            out += line.ending.rawValue
        }
        return out
    }

    /// The ending most lines use (`\n` for an empty file), for lines sanpath adds.
    public var dominantEnding: LineEnding {
        var lf = 0
        var crlf = 0
        for line in lines {
            switch line.ending {
            case .lf: lf += 1
            case .crlf: crlf += 1
            case .none: break
            }
        }
        return crlf > lf ? .crlf : .lf
    }

    /// Whether the file ends without a terminator on its last line.
    public var lacksFinalNewline: Bool { lines.last?.ending == LineEnding.none }
}

extension TextLines {
    /// The comment that explains line `index` of a config file: the nearest block of comment
    /// lines (first non-blank character in `markers`) above it, skipping the setting lines of
    /// its group, joined into one line. The walk stops at line `floor` (exclusive, e.g. a
    /// section header) and, when `stopAtBlank`, at a blank line before any comment.
    public func commentBlock(above index: Int, floor: Int = -1, markers: Set<Character> = ["#"], stopAtBlank: Bool = false) -> String? {
        var current = index - 1
        var block: [String] = []
        while current > floor {
            let text = lines[current].text.trimmingWhitespace()
            if let first = text.first, markers.contains(first) {
                block.append(String(text.drop { markers.contains($0) }).trimmingWhitespace())
            } else if !block.isEmpty || (stopAtBlank && text.isEmpty) {
                break
            }
            current -= 1
        }
        let said = block.reversed().filter { !$0.isEmpty }
        return said.isEmpty ? nil : said.joined(separator: " ")
    }
}
