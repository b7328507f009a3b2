#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SanpathCore

/// Something multipath-tools would ignore, reject or warn about in an otherwise well-formed file,
/// and, where there is one, the edit that fixes it.
public struct MultipathFinding: Sendable, Hashable {
    /// The warning or note, with file:line:col.
    public var diagnostic: Diagnostic
    /// The fix: line edits and the changes they make. Empty when sanpath only reports.
    public var edits: [LineEdit]
    /// What the fix changes, for the plan.
    public var changes: [Change]
}

/// Finds what the installed multipath-tools would ignore or has deprecated, and how to migrate it.
public enum MultipathLint {
    /// Renames to the modern keyword (old → new).
    static let renamed: [String: String] = [
        "selector": "path_selector",
        "default_selector": "path_selector",
        "default_path_grouping_policy": "path_grouping_policy",
        "default_prio": "prio",
        "default_features": "features",
        "default_path_checker": "path_checker",
        "default_user_friendly_names": "user_friendly_names",
    ]

    /// Keywords multipath-tools accepts but ignores, with the reason it gives.
    static func ignored(_ key: String, version: MultipathToolsVersion) -> String? {
        switch key {
        case "getuid_callout", "default_getuid_callout", "prio_callout":
            return "\(key) is ignored by multipath-tools (WWIDs come from udev's uid_attribute, priorities from prio)"
        case "udev_dir":
            return "udev_dir is ignored by multipath-tools (udev's /dev is always used)"
        case "config_dir", "multipath_dir":
            return "\(key) is ignored by multipath-tools \(version) (the built-in path is always used)"
        case "pg_timeout":
            return "pg_timeout is ignored by multipath-tools \(version) (the kernel dropped it)"
        case "bindings_file", "wwids_file", "prkeys_file":
            // NEWS.md, 0.9.7: "The options bindings_file, wwids_file and prkeys_file [...] have been
            // removed" (deprecated, still honoured before); a `where` here bound only the last name
            guard version >= MultipathToolsVersion(0, 9, 7) else { return nil }
            return "\(key) is ignored from multipath-tools 0.9.7 (the files live in /etc/multipath)"
        case "disable_changed_wwids" where version >= MultipathToolsVersion(0, 10, 0):
            return "disable_changed_wwids is ignored from multipath-tools 0.10.0"
        default:
            return nil
        }
    }

    /// A name for a section in plans and messages: `defaults`, `devices/device(EQLOGIC/100E-00)`.
    public static func label(_ section: MultipathSection, parent: String?) -> String {
        var name = parent.map { "\($0)/\(section.name)" } ?? section.name
        if section.name == "device" {
            name += "(\(section.value(of: "vendor") ?? "?")/\(section.value(of: "product") ?? "?"))"
        } else if section.name == "multipath", let wwid = section.value(of: "wwid") {
            name += "(\(wwid))"
        }
        return name
    }

    /// Every finding for the file, or for the top-level entries `entries` (indices into
    /// `conf.root`) of it. The file must have no syntax errors.
    public static func findings(
        _ conf: MultipathConf, version: MultipathToolsVersion = .debian12, entries: [Int]? = nil
    ) -> [MultipathFinding] {
        var out: [MultipathFinding] = []
        let root = entries.map { $0.map { conf.root[$0] } } ?? conf.root
        // stray settings at the top level
        for case .setting(let setting) in root {
            let reason = "'\(setting.key)' outside any section is ignored by multipath-tools (invalid keyword)"
            out.append(commentOut(conf, setting, section: nil, reason: reason))
        }
        // renamed keys are looked up only for keywords the release does not know
        assert(MultipathGrammar.keywords(for: version).values.allSatisfy { $0.isDisjoint(with: renamed.keys) })
        // one table of key lines, emptied for each section, not one allocated per section
        var seen: [String: Int] = [:]
        // depth first, as allSections() lists them, without building that list
        func walk(_ entries: [MultipathEntry], parent: String?) {
            for case .section(let section) in entries {
                seen.removeAll(keepingCapacity: true)
                out += findings(in: section, parent: parent, conf: conf, version: version, seen: &seen)
                walk(section.entries, parent: section.name)
            }
        }
        walk(root, parent: nil)
        return out.sorted { ($0.diagnostic.location.line ?? 0) < ($1.diagnostic.location.line ?? 0) }
    }

    /// `seen` comes empty and is left with the line of each key's last occurrence in the section.
    static func findings(
        in section: MultipathSection, parent: String?, conf: MultipathConf, version: MultipathToolsVersion,
        seen: inout [String: Int]
    ) -> [MultipathFinding] {
        var out: [MultipathFinding] = []
        let scope = MultipathGrammar.scope(of: section.name, parent: parent)
        let known = MultipathGrammar.keywords(for: version)[scope] ?? []
        // a clean section (most of a 10,000-map file) needs neither its label nor its key set
        lazy var label = Self.label(section, parent: parent)
        lazy var keysHere = Set(section.settings.map(\.key))
        for case .setting(let setting) in section.entries {
            let key = setting.key
            let earlier = seen.updateValue(setting.line, forKey: key)
            if let reason = ignored(key, version: version) {
                out.append(commentOut(conf, setting, section: label, reason: reason))
                continue
            }
            if !known.contains(key) {
                if let modern = renamed[key], known.contains(modern) {
                    if keysHere.contains(modern) {
                        out.append(
                            commentOut(
                                conf, setting, section: label,
                                reason: "'\(key)' is not a multipath-tools \(version) keyword; '\(modern)' is already set in this section"))
                    } else {
                        out.append(rename(conf, setting, to: modern, section: label, version: version))
                    }
                    continue
                }
                out.append(
                    commentOut(
                        conf, setting, section: label,
                        reason: "'\(key)' is an invalid keyword in the \(section.name) section; multipath-tools \(version) ignores it"))
                continue
            }
            // blacklist keywords are lists: each devnode/wwid/property line adds one entry
            if let earlier, scope != "blacklist", scope != "blacklist_exceptions" {
                out.append(
                    report(
                        .note, at: conf.location(line: setting.line, column: setting.keyColumn),
                        "'\(key)' is set twice in \(label) (line \(earlier + 1) and here); the last one wins"))
            }
            if key == "features", let finding = migrateFeatures(conf, setting, section: label, hasNoPathRetry: keysHere.contains("no_path_retry")) {
                out.append(finding)
                continue
            }
            // the kernel resets a repeat count above 1: said here for any section; the profile's own
            // device section has it commented out by the merge ([device_unset])
            if key == "rr_min_io_rq" || key == "rr_min_io", let count = Int(setting.value), count > 1 {
                out.append(
                    report(
                        .warning, at: conf.location(line: setting.line, column: setting.valueColumn),
                        "\(key) \(count) does nothing: the kernel's path selectors reset a repeat count above 1 to 1 and warn \"repeat_count > 1 is deprecated, using 1 instead\" (dm-round-robin.c, dm-service-time.c, dm-queue-length.c)",
                        text: "\(key) \(setting.value)"))
            }
            if key == "devnode", scope == "blacklist", let name = kernelDiskNameMatched(by: setting.value) {
                out.append(
                    report(
                        .warning, at: conf.location(line: setting.line, column: setting.valueColumn),
                        "blacklist devnode \"\(setting.value)\" names SCSI disks by kernel name (it matches \(name)), and kernel names are not stable: an iSCSI path that comes up as \(name) drops out of its map without a word. Blacklist the local disk by its WWID instead (wwid \"<WWID>\"; /lib/udev/scsi_id -g -u -d /dev/\(name) prints it) or by protocol (protocol \"scsi:ata\" for a SATA disk)",
                        text: "devnode \"\(setting.value)\""))
            }
            if (key == "path_checker" || key == "checker"), setting.value == "readsector0" {
                out.append(
                    replaceValue(
                        conf, setting, with: "tur", section: label,
                        reason: "the readsector0 checker is deprecated; tur is its replacement"))
                continue
            }
            if key == "flush_on_last_del", version >= MultipathToolsVersion(0, 9, 9),
                let modern = ["yes": "always", "no": "unused"][setting.value]
            {
                out.append(
                    replaceValue(
                        conf, setting, with: modern, section: label,
                        reason: "flush_on_last_del '\(setting.value)' is deprecated in multipath-tools \(version); '\(modern)' is the same"))
                continue
            }
            if MultipathGrammar.isRegexKey(key, inScope: scope) {
                var pattern = setting.value
                if scope == "blacklist" || scope == "blacklist_exceptions", pattern.hasPrefix("!") {
                    pattern.removeFirst()  // a leading '!' inverts the match
                }
                if tooComplex(pattern) {
                    out.append(
                        report(
                            .warning, at: conf.location(line: setting.line, column: setting.valueColumn),
                            "this pattern has stacked or many repetition operators, large counts or over 1024 characters: sanpath does not compile it (glibc's regcomp can take gigabytes on such patterns, and multipath-tools compiles it too)",
                            text: "\(key) \"\(setting.value.prefix(60))\""))
                } else if let problem = regexProblem(pattern) {
                    if pattern.hasPrefix("*"), regexProblem("." + pattern) == nil {
                        let fixed = (setting.value.hasPrefix("!") ? "!" : "") + "." + pattern
                        out.append(
                            replaceValue(
                                conf, setting, with: fixed, section: label,
                                reason: "\"\(setting.value)\" is not a valid regular expression (\(problem)), so multipath-tools never matches it; \"\(fixed)\" is what was meant"))
                    } else {
                        out.append(
                            commentOut(
                                conf, setting, section: label,
                                reason: "\"\(setting.value)\" is not a valid regular expression (\(problem)); multipath-tools never matches it"))
                    }
                }
            }
        }
        if section.name == "device", scope == "device", !(keysHere.contains("vendor") && keysHere.contains("product")) {
            out.append(
                report(
                    .warning, at: conf.location(line: section.headerLine, column: section.column),
                    "device section without vendor or product: multipath-tools ignores the whole section"))
        }
        return out
    }

    /// The first SCSI disk kernel name (`sda`, `sdb`, … `sdaz`) a blacklist devnode pattern
    /// matches, or nil. An inverted pattern (`!…`) blacklists everything else and is skipped.
    static func kernelDiskNameMatched(by pattern: String) -> String? {
        guard !pattern.hasPrefix("!"), let regex = CompiledRegex(pattern) else { return nil }
        let letters = "abcdefghijklmnopqrstuvwxyz".map(String.init)
        let names = letters.map { "sd\($0)" } + letters.map { "sda\($0)" }
        return names.first { regex.matches($0) }
    }

    /// Whether glibc's regcomp could take unbounded memory on a pattern: stacked or many
    /// repetition operators, a large `{m,n}` count, or a very long pattern (fuzzing found one that
    /// made it allocate 2.5 GB). Such a pattern is neither judged nor matched, only reported.
    public static func tooComplex(_ pattern: String) -> Bool {
        let bytes = Array(pattern.utf8)
        guard bytes.count <= 1024 else { return true }
        var operators = 0
        var stacked = 0
        var number = 0
        var inBraces = false
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"):
                operators += 1
                stacked += 1
            case UInt8(ascii: "{"):
                operators += 1
                stacked += 1
                inBraces = true
                number = 0
            case UInt8(ascii: "0")...UInt8(ascii: "9") where inBraces:
                number = min(number * 10 + Int(byte - UInt8(ascii: "0")), 100_000)
                if number > 255 { return true }
            case UInt8(ascii: ","):
                number = 0
            case UInt8(ascii: "}") where inBraces:
                inBraces = false
            default:
                stacked = 0
            }
            if stacked > 2 || operators > 32 { return true }
        }
        return false
    }

    /// The regcomp error for a POSIX extended regular expression, or nil when it compiles (or is
    /// too complex to compile safely: `tooComplex`).
    public static func regexProblem(_ pattern: String) -> String? {
        guard !tooComplex(pattern) else { return nil }
        var regex = regex_t()
        let status = regcomp(&regex, pattern, REG_EXTENDED | REG_NOSUB)
        defer { if status == 0 { regfree(&regex) } }
        guard status != 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: 256)
        regerror(status, &regex, &buffer, buffer.count)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether an extended regular expression matches `text` (as multipath-tools matches vendor and product).
    public static func regexMatches(_ pattern: String, _ text: String) -> Bool {
        CompiledRegex(pattern)?.matches(text) ?? false
    }

    // MARK: fixes

    /// A finding that only reports: nothing to edit, nothing changed.
    static func report(
        _ severity: Diagnostic.Severity, at location: SourceLocation, _ message: String, text: String? = nil
    ) -> MultipathFinding {
        MultipathFinding(diagnostic: Diagnostic(severity, at: location, message, text: text), edits: [], changes: [])
    }

    static func commentOut(_ conf: MultipathConf, _ setting: MultipathSetting, section: String?, reason: String) -> MultipathFinding {
        let line = conf.lines.lines[setting.line].text
        let indent = line.leadingIndentation
        let body = String(line.dropFirst(indent.count))
        return MultipathFinding(
            diagnostic: Diagnostic(
                .warning, at: conf.location(line: setting.line, column: setting.keyColumn), reason, text: body),
            edits: [.replace(line: setting.line, with: ["\(indent)# sanpath: \(reason)", "\(indent)# \(body)"])],
            changes: [
                Change(section: section, key: setting.key, old: setting.value, new: nil, reason: "commented out: \(reason)", line: setting.line + 1)
            ])
    }

    static func replaceValue(
        _ conf: MultipathConf, _ setting: MultipathSetting, with value: String, section: String?, reason: String
    ) -> MultipathFinding {
        let text = MultipathFormat.replacingValue(in: conf.lines.lines[setting.line].text, setting: setting, with: value)
        return MultipathFinding(
            diagnostic: Diagnostic(
                .warning, at: conf.location(line: setting.line, column: setting.valueColumn), reason,
                text: "\(setting.key) \(setting.value)"),
            edits: [.replace(line: setting.line, with: [text])],
            changes: [
                Change(section: section, key: setting.key, old: setting.value, new: value, reason: "migrated: \(reason)", line: setting.line + 1)
            ])
    }

    static func rename(
        _ conf: MultipathConf, _ setting: MultipathSetting, to modern: String, section: String?, version: MultipathToolsVersion
    ) -> MultipathFinding {
        let line = conf.lines.lines[setting.line].text
        let utf8 = Array(line.utf8)
        let keyStart = utf8.count - line.drop(while: { $0 == " " || $0 == "\t" }).utf8.count
        let keyEnd = keyStart + setting.key.utf8.count
        let text = String(decoding: utf8[..<keyStart], as: UTF8.self) + modern + String(decoding: utf8[keyEnd...], as: UTF8.self)
        let reason = "'\(setting.key)' is not a multipath-tools \(version) keyword; '\(modern)' is its modern form"
        return MultipathFinding(
            diagnostic: Diagnostic(.warning, at: conf.location(line: setting.line, column: setting.keyColumn), reason, text: setting.key),
            edits: [.replace(line: setting.line, with: [text])],
            changes: [
                Change(section: section, key: setting.key, old: setting.value, new: nil, reason: "migrated: \(reason)", line: setting.line + 1),
                Change(section: section, key: modern, old: nil, new: setting.value, reason: "migrated: \(reason)", line: setting.line + 1),
            ])
    }

    /// `features "1 queue_if_no_path"` is deprecated: queueing is `no_path_retry queue`.
    static func migrateFeatures(
        _ conf: MultipathConf, _ setting: MultipathSetting, section: String?, hasNoPathRetry: Bool
    ) -> MultipathFinding? {
        var words = setting.value.split(separator: " ").map(String.init)
        guard words.contains("queue_if_no_path") else { return nil }
        if let first = words.first, Int(first) != nil { words.removeFirst() }
        words.removeAll { $0 == "queue_if_no_path" }
        let line = conf.lines.lines[setting.line].text
        let indent = line.leadingIndentation
        var replacement: [String] = []
        var changes: [Change] = []
        let newFeatures = words.isEmpty ? nil : "\(words.count) \(words.joined(separator: " "))"
        let reason =
            hasNoPathRetry
            ? "queue_if_no_path in features is deprecated and ignored because no_path_retry is set"
            : "queue_if_no_path in features is deprecated; no_path_retry queue is its modern form"
        if let newFeatures {
            replacement.append(MultipathFormat.replacingValue(in: line, setting: setting, with: newFeatures, forceQuotes: true))
        }
        changes.append(
            Change(section: section, key: "features", old: setting.value, new: newFeatures, reason: "migrated: \(reason)", line: setting.line + 1))
        if !hasNoPathRetry {
            replacement.append("\(indent)no_path_retry queue")
            changes.append(Change(section: section, key: "no_path_retry", old: nil, new: "queue", reason: "migrated: \(reason)", line: nil))
        }
        return MultipathFinding(
            diagnostic: Diagnostic(
                .warning, at: conf.location(line: setting.line, column: setting.valueColumn), reason,
                text: "features \"\(setting.value)\""),
            edits: [.replace(line: setting.line, with: replacement)], changes: changes)
    }
}

/// How sanpath writes multipath.conf values.
public enum MultipathFormat {
    /// Whether a value must be written in double quotes to survive multipath-tools' tokeniser.
    public static func needsQuotes(_ value: String) -> Bool {
        value.isEmpty
            || value.utf8.contains { b in
                b == 0x20 || b == 0x09 || b == UInt8(ascii: "#") || b == UInt8(ascii: "!") || b == UInt8(ascii: "{")
                    || b == UInt8(ascii: "}") || b == UInt8(ascii: "\"") || b >= 0x80
            }
    }

    /// The value as written: quoted (with `""` for `"`) when needed or asked for.
    public static func written(_ value: String, quoted: Bool) -> String {
        guard quoted || needsQuotes(value) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The line with the setting's value replaced, everything else (indent, spacing, trailing
    /// comment) kept. The original quoting style is kept unless the new value needs quotes.
    public static func replacingValue(
        in line: String, setting: MultipathSetting, with value: String, forceQuotes: Bool = false
    ) -> String {
        let utf8 = Array(line.utf8)
        let written = written(value, quoted: setting.quoted || forceQuotes)
        return String(decoding: utf8[..<setting.valueRange.lowerBound], as: UTF8.self) + written
            + String(decoding: utf8[setting.valueRange.upperBound...], as: UTF8.self)
    }
}

/// A POSIX extended regular expression compiled once (multipath-tools' flavour), freed with it;
/// nil for a pattern that does not compile or is too complex to compile safely.
final class CompiledRegex {
    private var regex = regex_t()

    init?(_ pattern: String) {
        guard !MultipathLint.tooComplex(pattern), regcomp(&regex, pattern, REG_EXTENDED | REG_NOSUB) == 0 else { return nil }
    }

    deinit { regfree(&regex) }

    func matches(_ text: String) -> Bool { regexec(&regex, text, 0, nil, 0) == 0 }
}
