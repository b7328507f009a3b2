import Foundation
import SanpathCore

/// An open-iscsi configuration file (iscsid.conf, an iface file, a node record), parsed by
/// open-iscsi's rules (`idbm_recinfo_config`) and kept lossless.
///
/// A line is a comment only when `#` is its first non-blank character; there are no inline
/// comments (the rest of the line is the value). The name runs to whitespace or `=`, and
/// whitespace is required before `=`: `a = b` and `a =b` are settings, `a=b` is skipped by
/// open-iscsi with "does not have '=' separator".
public struct ISCSIConf: Sendable {
    /// The file as lines.
    public private(set) var lines: TextLines
    /// File name for diagnostics.
    public let source: String
    /// Every setting line, including those open-iscsi skips (see `ISCSISetting.accepted`).
    public private(set) var settings: [ISCSISetting] = []
    /// Commented-out settings (`# node.startup = automatic`), the stock file's documented defaults.
    public private(set) var commentedSettings: [ISCSISetting] = []
    /// Lines that are neither comment nor setting: errors.
    public private(set) var syntaxDiagnostics: [Diagnostic] = []

    /// open-iscsi reads lines into a 2048-byte buffer.
    public static let maximumLineLength = 2047

    /// Parses a file's text.
    public init(text: String, source: String) {
        self.init(lines: TextLines(splitting: text), source: source)
    }

    /// Parses lines.
    public init(lines: TextLines, source: String) {
        self.lines = lines
        self.source = source
        for (index, line) in lines.lines.enumerated() {
            let text = line.text
            let trimmed = text.drop(while: { $0 == " " || $0 == "\t" })
            if trimmed.isEmpty || trimmed.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            if trimmed.first == "#" {
                let body = trimmed.dropFirst().drop(while: { $0 == " " || $0 == "\t" || $0 == "#" })
                let offset = text.utf8.count - body.utf8.count
                if let setting = ISCSISetting.parse(String(body), line: index, offset: offset, in: text),
                    setting.key.contains("."), setting.accepted
                {
                    commentedSettings.append(setting)
                }
                continue
            }
            let offset = text.utf8.count - trimmed.utf8.count
            guard let setting = ISCSISetting.parse(String(trimmed), line: index, offset: offset, in: text) else {
                let column = text.count - trimmed.count + 1
                syntaxDiagnostics.append(
                    Diagnostic(
                        .error, at: SourceLocation(source: source, line: index + 1, column: column),
                        "not a setting: open-iscsi expects 'name = value' (or '#' for a comment)",
                        text: ISCSIConf.redactedLine(String(trimmed))))
                continue
            }
            settings.append(setting)
        }
    }

    /// The exact text.
    public var text: String { lines.joined }

    /// The effective setting for a key: the last accepted one (open-iscsi lets the last win).
    public func effective(_ key: String) -> ISCSISetting? {
        settings.last { $0.key == key && $0.accepted }
    }

    /// A line for output with any secret value masked.
    public static func redactedLine(_ line: String) -> String {
        guard let equals = line.firstIndex(of: "=") else { return line }
        let key = line[..<equals].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "#"))
            .trimmingCharacters(in: .whitespaces)
        guard Secrets.isSecretKey(key) else { return line }
        let afterEquals = line[line.index(after: equals)...]
        let spaces = afterEquals.prefix(while: { $0 == " " || $0 == "\t" })
        return String(line[...equals]) + spaces + (afterEquals.count > spaces.count ? Secrets.mask : "")
    }

    /// What open-iscsi would skip or misread, with the fix where there is one.
    public func findings() -> [ISCSIFinding] {
        var out: [ISCSIFinding] = []
        var lastIndex: [String: Int] = [:]
        for (i, setting) in settings.enumerated() where setting.accepted { lastIndex[setting.key] = i }
        for (i, setting) in settings.enumerated() {
            let location = SourceLocation(source: source, line: setting.line + 1, column: setting.keyColumn)
            let lineText = lines.lines[setting.line].text
            if !setting.accepted {
                let reason = "ignored by open-iscsi: no space before '='"
                let fixed = setting.rewritten(in: lineText, value: setting.value)
                out.append(
                    ISCSIFinding(
                        diagnostic: Diagnostic(.warning, at: location, reason, text: ISCSIConf.redactedLine(lineText.trimmingWhitespace())),
                        key: setting.key, edits: [.replace(line: setting.line, with: [fixed])],
                        changes: [
                            Change(
                                section: nil, key: setting.key, old: nil, new: setting.displayValue, reason: reason,
                                line: setting.line + 1)
                        ]))
                continue
            }
            if let last = lastIndex[setting.key], last != i {
                out.append(
                    ISCSIFinding(
                        diagnostic: Diagnostic(
                            .note, at: location,
                            "'\(setting.key)' is set again on line \(settings[last].line + 1); open-iscsi uses the last one"),
                        key: setting.key, edits: [], changes: []))
            }
            if lineText.utf8.count > ISCSIConf.maximumLineLength {
                out.append(
                    ISCSIFinding(
                        diagnostic: Diagnostic(.warning, at: location, "line is longer than 2047 bytes; open-iscsi skips it"),
                        key: setting.key, edits: [], changes: []))
            }
            if setting.value.contains(" #") || setting.value.hasPrefix("#") {
                out.append(
                    ISCSIFinding(
                        diagnostic: Diagnostic(
                            .note, at: location.at(column: setting.valueColumn),
                            "open-iscsi has no inline comments: '\(setting.displayValue)' is all part of the value"),
                        key: setting.key, edits: [], changes: []))
            }
        }
        return out
    }
}

/// One `name = value` line.
public struct ISCSISetting: Sendable, Hashable {
    /// The setting name (`node.session.timeo.replacement_timeout`).
    public var key: String
    /// The value: the rest of the line after `=`, trailing whitespace removed.
    public var value: String
    /// 0-based line index.
    public var line: Int
    /// 1-based column of the name.
    public var keyColumn: Int
    /// 1-based column of the value.
    public var valueColumn: Int
    /// UTF-8 offsets of the value in the line.
    public var valueRange: Range<Int>
    /// Whether open-iscsi reads this line (false for `name=value` without a space before `=`).
    public var accepted: Bool

    /// The value for output: masked for secret keys.
    public var displayValue: String { Secrets.isSecretKey(key) ? Secrets.mask : value }

    /// Parses a line body that starts at UTF-8 `offset` of `line`. Nil when there is no `=`.
    static func parse(_ body: String, line index: Int, offset: Int, in line: String) -> ISCSISetting? {
        let bytes = Array(body.utf8)
        var i = 0
        while i < bytes.count, bytes[i] != 0x20, bytes[i] != 0x09, bytes[i] != UInt8(ascii: "=") { i += 1 }
        guard i > 0 else { return nil }
        let key = String(decoding: bytes[..<i], as: UTF8.self)
        var accepted = true
        if i < bytes.count, bytes[i] == UInt8(ascii: "=") {
            accepted = false
        } else {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
            guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else { return nil }
        }
        i += 1
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
        var end = bytes.count
        while end > i, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 || bytes[end - 1] == 0x0D { end -= 1 }
        let value = String(decoding: bytes[i..<end], as: UTF8.self)
        func column(_ utf8Offset: Int) -> Int {
            String(decoding: Array(line.utf8)[..<utf8Offset], as: UTF8.self).count + 1
        }
        return ISCSISetting(
            key: key, value: value, line: index, keyColumn: column(offset), valueColumn: column(offset + i),
            valueRange: (offset + i)..<(offset + end), accepted: accepted)
    }

    /// The line rewritten as `name = value`, keeping its indentation.
    func rewritten(in line: String, value: String) -> String {
        line.leadingIndentation + ISCSIFormat.line(key: key, value: value)
    }
}

/// A finding in an open-iscsi file.
public struct ISCSIFinding: Sendable, Hashable {
    /// The warning or note.
    public var diagnostic: Diagnostic
    /// The setting it is about.
    public var key: String
    /// The fix, if any.
    public var edits: [LineEdit]
    /// What the fix changes.
    public var changes: [Change]
}

/// How sanpath writes open-iscsi settings.
public enum ISCSIFormat {
    /// `name = value`, the form open-iscsi reads.
    public static func line(key: String, value: String) -> String {
        value.isEmpty ? "\(key) =" : "\(key) = \(value)"
    }
}

extension ISCSIConf {
    /// The comment that says why a setting is there: the comment block right above it or
    /// above its group of settings, as one line; nil when there is none before a blank line.
    public func explanation(of setting: ISCSISetting) -> String? {
        // iscsiadm's record markers say nothing about a setting
        lines.commentBlock(above: setting.line, stopAtBlank: true).map(Self.withoutRecordMarker)
    }

    /// The comment without a leading `BEGIN RECORD 2.1.8 ` (version optional): what the regex
    /// `^BEGIN RECORD( [0-9][^ ]*)? ?` cuts, without building a Regex on each plan.
    static func withoutRecordMarker(_ text: String) -> String {
        guard text.hasPrefix("BEGIN RECORD") else { return text }
        var rest = text.dropFirst("BEGIN RECORD".count)
        if rest.first == " ", let digit = rest.dropFirst().first, digit.isASCII, digit.isWholeNumber {
            rest = rest.dropFirst().drop { $0 != " " }
        }
        if rest.first == " " { rest = rest.dropFirst() }
        return String(rest)
    }
}
