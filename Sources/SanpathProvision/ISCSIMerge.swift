import SanpathConfig
import SanpathCore

/// Merges a rendered open-iscsi file (iscsid.conf, iface file) into the host's:
///
/// 1. Lines open-iscsi skips (`name=value` without a space before `=`) are rewritten so it
///    reads them.
/// 2. Each profile setting is set on the line open-iscsi uses (the last); earlier duplicates of
///    a managed key are removed; a missing key replaces its commented default (`#name = …`) in
///    place, or is appended under a `# sanpath:` comment.
///
/// Secret values appear in changes only as `Secrets.mask`.
public enum ISCSIMerge {
    /// Extra rule for iface files: binding by hardware address as well as by NIC is undefined.
    public static let ifaceConflicts: [String: String] = [
        "iface.hwaddress": "the iface is bound by iface.net_ifacename; binding by hwaddress as well is undefined in open-iscsi"
    ]

    /// Merges. `existing` must have no syntax errors; nil means the host has no file.
    public static func merge(
        existing: ISCSIConf?, rendered: ISCSIConf, profileName: String, conflicts: [String: String] = [:]
    ) -> MergeResult {
        func reason(_ setting: ISCSISetting) -> String {
            rendered.explanation(of: setting).map { "set by \(profileName) profile: \($0)" } ?? "set by \(profileName) profile"
        }
        guard let existing else {
            let changes = rendered.settings.map {
                Change(section: nil, key: $0.key, old: nil, new: $0.displayValue, reason: reason($0), line: nil)
            }
            return MergeResult(lines: rendered.lines, changes: changes, diagnostics: [])
        }
        // pass 1: make every setting line readable by open-iscsi
        let findings = existing.findings()
        let (fixedLines, origin) = LineEditor.apply(findings.flatMap(\.edits), to: existing.lines)
        var changes = findings.flatMap(\.changes)
        let diagnostics = findings.filter { $0.edits.isEmpty }.map(\.diagnostic)
        let conf = ISCSIConf(lines: fixedLines, source: existing.source)

        // pass 2: the profile's settings
        var edits: [LineEdit] = []
        var appended: [String] = []
        var usedComments = Set<Int>()
        var pass2: [Change] = []
        for wanted in rendered.settings {
            let matches = conf.settings.filter { $0.key == wanted.key && $0.accepted }
            if let last = matches.last {
                for duplicate in matches.dropLast() {
                    edits.append(.replace(line: duplicate.line, with: []))
                    pass2.append(
                        Change(
                            section: nil, key: wanted.key, old: duplicate.displayValue, new: nil,
                            reason: "duplicate key removed (open-iscsi uses the one on line \(last.line + 1))",
                            line: duplicate.line + 1))
                }
                if last.value != wanted.value {
                    let line = conf.lines.lines[last.line].text
                    let bytes = Array(line.utf8)
                    let text =
                        String(decoding: bytes[..<last.valueRange.lowerBound], as: UTF8.self) + wanted.value
                        + String(decoding: bytes[last.valueRange.upperBound...], as: UTF8.self)
                    // `name =` with an empty value has no space before the new value yet
                    let fixedText = last.value.isEmpty ? last.rewrittenLine(in: line, value: wanted.value) : text
                    edits.append(.replace(line: last.line, with: [fixedText]))
                    pass2.append(
                        Change(
                            section: nil, key: wanted.key, old: last.displayValue, new: wanted.displayValue, reason: reason(wanted),
                            line: last.line + 1))
                }
                continue
            }
            if let commented = conf.commentedSettings.first(where: { $0.key == wanted.key && !usedComments.contains($0.line) }) {
                usedComments.insert(commented.line)
                let indent = conf.lines.lines[commented.line].text.leadingIndentation
                edits.append(.replace(line: commented.line, with: [indent + ISCSIFormat.line(key: wanted.key, value: wanted.value)]))
                pass2.append(
                    Change(
                        section: nil, key: wanted.key, old: nil, new: wanted.displayValue,
                        reason: "\(reason(wanted)) (in place of the commented default on this line)", line: commented.line + 1))
                continue
            }
            appended.append(ISCSIFormat.line(key: wanted.key, value: wanted.value))
            pass2.append(Change(section: nil, key: wanted.key, old: nil, new: wanted.displayValue, reason: reason(wanted), line: nil))
        }
        for (key, why) in conflicts {
            for setting in conf.settings where setting.key == key && setting.accepted && !setting.value.isEmpty
                && setting.value != "<empty>" && setting.value != "default"
            {
                let line = conf.lines.lines[setting.line].text
                let indent = line.leadingIndentation
                edits.append(.replace(line: setting.line, with: ["\(indent)# sanpath: \(why)", "\(indent)# \(line.dropFirst(indent.count))"]))
                pass2.append(
                    Change(section: nil, key: key, old: setting.displayValue, new: nil, reason: "commented out: \(why)", line: setting.line + 1))
            }
        }
        if !appended.isEmpty {
            var block: [String] = []
            if let last = conf.lines.lines.last, !last.text.trimmingWhitespace().isEmpty { block.append("") }
            block.append("# sanpath: \(profileName) profile")
            edits.append(.insert(before: conf.lines.lines.count, lines: block + appended))
        }
        let (merged, _) = LineEditor.apply(edits, to: conf.lines)
        for var change in pass2 {
            if let line = change.line { change.line = origin[line - 1].map { $0 + 1 } }
            changes.append(change)
        }
        return MergeResult(lines: merged, changes: MultipathMerge.inFileOrder(changes), diagnostics: diagnostics)
    }
}

extension ISCSISetting {
    /// `name = value` keeping the line's indentation.
    func rewrittenLine(in line: String, value: String) -> String {
        line.leadingIndentation + ISCSIFormat.line(key: key, value: value)
    }
}
