import SanpathConfig
import SanpathCore
import SanpathProfiles

/// The result of merging a profile's file into the host's.
public struct MergeResult: Sendable {
    /// The merged file.
    public var lines: TextLines
    /// Every change, in file order, each with its reason.
    public var changes: [Change]
    /// Warnings and notes about the host's file that the merge did not (or cannot) fix.
    public var diagnostics: [Diagnostic]
    /// The merged multipath.conf as the merge parsed it: the host's tree with the sections it
    /// edited parsed again (`MultipathConf.editedEntries`). Nil when there was no host file to
    /// merge into, and for other files.
    public var multipathConf: MultipathConf? = nil
}

/// Merges a rendered multipath.conf into the host's, by DESIGN.md's merge policy:
///
/// 1. Make the host's file clean for the installed multipath-tools: deprecated keywords are
///    migrated, ignored ones commented out with a one-line reason (`MultipathLint`).
/// 2. Apply the profile: its `defaults` keys go into the last `defaults` section; its device
///    section's keys go into the last device section whose vendor and product match the array
///    (later entries win in multipath-tools), or the whole section is added. Keys the admin added
///    stay; everything outside is untouched.
public enum MultipathMerge {
    /// Merges. `existing` must have no syntax errors; nil means the host has no file. Consuming:
    /// a caller that hands over its only copy lets the merge edit the tree in place.
    public static func merge(
        existing: consuming MultipathConf?, rendered: MultipathConf, identity: ProfileIdentity,
        version: MultipathToolsVersion
    ) -> MergeResult {
        guard let existing = consume existing else {
            return MergeResult(
                lines: rendered.lines, changes: creationChanges(rendered, identity: identity), diagnostics: [])
        }
        // pass 1: fix what multipath-tools would ignore or warns about; only the sections
        // the fixes touch are parsed again
        let findings = MultipathLint.findings(existing, version: version)
        let (fixed, fixedOrigin) = (consume existing).applying(findings.flatMap(\.edits))
        var changes = findings.flatMap(\.changes)
        var diagnostics = findings.filter { $0.edits.isEmpty }.map(\.diagnostic)

        // pass 2: the profile's settings
        var plan = ProfileEdits(conf: fixed, identity: identity)
        plan.applyDefaults(from: rendered)
        plan.applyDevice(from: rendered)
        diagnostics += plan.diagnostics
        let (edits, planChanges) = (plan.edits, plan.changes)
        _ = consume plan  // its copy of the tree, so that the one left is edited in place
        let (merged, _) = (consume fixed).applying(edits)

        // express pass-2 line numbers in the host file's numbering
        for change in planChanges {
            var mapped = change
            if let line = change.line {
                mapped.line = fixedOrigin[line - 1].map { $0 + 1 }
            }
            changes.append(combine(mapped, into: &changes))
        }
        changes.removeAll { $0.reason.isEmpty }
        return MergeResult(lines: merged.lines, changes: inFileOrder(changes), diagnostics: diagnostics, multipathConf: merged)
    }

    /// A profile change to a line that pass 1 created replaces that pass-1 change, keeping its
    /// old value: the plan shows one change per key, not the intermediate step.
    static func combine(_ change: Change, into changes: inout [Change]) -> Change {
        guard let index = changes.lastIndex(where: {
                $0.section == change.section && $0.key == change.key && $0.new != nil && $0.new == change.old
                    && $0.reason.hasPrefix("migrated")
            })
        else { return change }
        var combined = change
        combined.old = changes[index].old
        combined.line = changes[index].line
        combined.reason = "\(change.reason); \(changes[index].reason)"
        changes[index].reason = ""  // dropped below
        return combined
    }

    /// Changes sorted by line; added lines (no line) after the changes to existing ones.
    static func inFileOrder(_ changes: [Change]) -> [Change] {
        changes.enumerated().sorted { a, b in
            let (la, lb) = (a.element.line ?? Int.max, b.element.line ?? Int.max)
            return la != lb ? la < lb : a.offset < b.offset
        }.map(\.element)
    }

    /// For a file the host does not have: every setting of the rendered file is a change.
    static func creationChanges(_ rendered: MultipathConf, identity: ProfileIdentity) -> [Change] {
        var out: [Change] = []
        for (parent, section) in rendered.allSections() {
            let label = MultipathLint.label(section, parent: parent)
            for setting in section.settings {
                out.append(
                    Change(
                        section: label, key: setting.key, old: nil, new: setting.value,
                        reason: identity.reason(for: setting, in: section, of: rendered), line: nil))
            }
        }
        return out
    }
}

/// Which array a profile is for, and how to name it in reasons.
public struct ProfileIdentity: Sendable, Hashable {
    /// "equallogic nc".
    public var profileName: String
    /// INQUIRY vendor the device section must match.
    public var inquiryVendor: String
    /// INQUIRY product the device section must match.
    public var inquiryProduct: String
    /// Keys the profile takes out of the array's device section, with the reason.
    public var deviceUnset: [ProfileValue]

    /// Creates an identity.
    public init(profileName: String, inquiryVendor: String, inquiryProduct: String, deviceUnset: [ProfileValue] = []) {
        self.profileName = profileName
        self.inquiryVendor = inquiryVendor
        self.inquiryProduct = inquiryProduct
        self.deviceUnset = deviceUnset
    }

    /// "set by netapp nc profile: <the template's comment above the setting>".
    func reason(for setting: MultipathSetting, in section: MultipathSection, of rendered: MultipathConf) -> String {
        let base = "set by \(profileName) profile"
        guard let why = rendered.explanation(of: setting, in: section) else { return base }
        return "\(base): \(why)"
    }

    /// Whether a device section's vendor and product regexes match this array.
    public func matches(_ device: MultipathSection) -> Bool {
        guard let vendor = device.value(of: "vendor"), let product = device.value(of: "product") else { return false }
        return MultipathLint.regexMatches(vendor, inquiryVendor) && MultipathLint.regexMatches(product, inquiryProduct)
    }
}

/// Pass 2 of the merge: line edits that put the profile's settings into a clean file.
private struct ProfileEdits {
    let conf: MultipathConf
    let identity: ProfileIdentity
    var edits: [LineEdit] = []
    var changes: [Change] = []
    var diagnostics: [Diagnostic] = []
    /// One indentation step in this file (a tab unless the file uses spaces).
    let unit: String

    init(conf: MultipathConf, identity: ProfileIdentity) {
        self.conf = conf
        self.identity = identity
        self.unit = conf.lines.lines.lazy.map(\.text.leadingIndentation).first { !$0.isEmpty }.map {
            $0.hasPrefix("\t") ? "\t" : String(repeating: " ", count: min($0.count, 8))
        } ?? "\t"
    }

    /// Why the profile sets `key` in `wanted`: the template's comment above it.
    func reason(_ key: String, in wanted: MultipathSection, of rendered: MultipathConf) -> String {
        guard let setting = wanted.settings.last(where: { $0.key == key }) else { return "set by \(identity.profileName) profile" }
        return identity.reason(for: setting, in: wanted, of: rendered)
    }

    /// The rendered section's lines, re-indented to `unit` (default: this file's), shifted by `depth` units.
    func block(_ section: MultipathSection, in rendered: MultipathConf, depth: Int, unit: String? = nil) -> [String] {
        guard let close = section.closeLine else { return [] }
        let step = unit ?? self.unit
        return rendered.lines.lines[section.headerLine...close].map { line in
            let indent = line.text.leadingIndentation
            let tabs = indent.filter { $0 == "\t" }.count
            let level = tabs + (indent.count - tabs) / 8
            return String(repeating: step, count: level + depth) + line.text.dropFirst(indent.count)
        }
    }

    /// The indentation step a section's own children use (a file may mix tabs and spaces
    /// between sections); nil when it has no indented child.
    func childUnit(of section: MultipathSection) -> String? {
        guard let close = section.closeLine, close > section.headerLine + 1 else { return nil }
        let header = conf.lines.lines[section.headerLine].text.leadingIndentation
        for line in conf.lines.lines[(section.headerLine + 1)..<close] where !line.text.trimmingWhitespace().isEmpty {
            let indent = line.text.leadingIndentation
            guard indent.count > header.count, indent.hasPrefix(header) else { continue }
            return String(indent.dropFirst(header.count))
        }
        return nil
    }

    /// Sets `rendered`'s settings in `target`: replace differing values, add missing keys,
    /// remove earlier duplicates of a managed key.
    mutating func setKeys(
        from wantedSection: MultipathSection, of rendered: MultipathConf, in target: MultipathSection, label: String,
        skip: Set<String> = []
    ) {
        let settings = wantedSection.settings
        let existing = target.settings
        var inserts: [String] = []
        let indent =
            existing.last.map { conf.lines.lines[$0.line].text.leadingIndentation }
            ?? (conf.lines.lines[target.headerLine].text.leadingIndentation + unit)
        for wanted in settings where !skip.contains(wanted.key) {
            let matches = existing.filter { $0.key == wanted.key }
            if let last = matches.last {
                for duplicate in matches.dropLast() {
                    edits.append(.replace(line: duplicate.line, with: []))
                    changes.append(
                        Change(
                            section: label, key: wanted.key, old: duplicate.value, new: nil,
                            reason: "duplicate key removed (line \(last.line + 1) is the one multipath-tools uses)",
                            line: duplicate.line + 1))
                }
                if last.value != wanted.value {
                    let text = MultipathFormat.replacingValue(
                        in: conf.lines.lines[last.line].text, setting: last, with: wanted.value,
                        forceQuotes: wanted.quoted)
                    edits.append(.replace(line: last.line, with: [text]))
                    changes.append(
                        Change(
                            section: label, key: wanted.key, old: last.value, new: wanted.value,
                            reason: reason(wanted.key, in: wantedSection, of: rendered), line: last.line + 1))
                }
            } else {
                inserts.append(indent + wanted.key + " " + MultipathFormat.written(wanted.value, quoted: wanted.quoted))
                changes.append(
                    Change(
                        section: label, key: wanted.key, old: nil, new: wanted.value,
                        reason: reason(wanted.key, in: wantedSection, of: rendered), line: nil))
            }
        }
        if !inserts.isEmpty, let close = target.closeLine {
            edits.append(.insert(before: close, lines: inserts))
        }
    }

    mutating func applyDefaults(from rendered: MultipathConf) {
        guard let wanted = rendered.sections(named: "defaults").last else { return }
        if let target = conf.sections(named: "defaults").last {
            setKeys(from: wanted, of: rendered, in: target, label: "defaults")
            return
        }
        // a new defaults section goes before the first section, as multipath.conf(5) orders them
        let firstSection = conf.root.compactMap { entry -> Int? in
            if case .section(let s) = entry { return s.headerLine }
            return nil
        }.first
        var lines = block(wanted, in: rendered, depth: 0)
        if firstSection != nil { lines.append("") }
        edits.append(.insert(before: firstSection ?? conf.lines.lines.count, lines: lines))
        for setting in wanted.settings {
            changes.append(
                Change(
                    section: "defaults", key: setting.key, old: nil, new: setting.value,
                    reason: identity.reason(for: setting, in: wanted, of: rendered), line: nil))
        }
    }

    mutating func applyDevice(from rendered: MultipathConf) {
        guard let wanted = rendered.sections(named: "devices").last?.subsections.first(where: { $0.name == "device" }) else {
            return
        }
        let label = "devices/device(\(wanted.value(of: "vendor") ?? "?")/\(wanted.value(of: "product") ?? "?"))"
        let devicesSections = conf.sections(named: "devices")
        let matching = devicesSections.flatMap { $0.subsections.filter { $0.name == "device" && identity.matches($0) } }
        if let target = matching.last {
            let targetLabel = MultipathLint.label(target, parent: "devices")
            for other in matching.dropLast() {
                diagnostics.append(
                    Diagnostic(
                        .note, at: conf.location(line: other.headerLine, column: other.column),
                        "this device section also matches \(identity.inquiryVendor) \(identity.inquiryProduct); the one at line \(target.headerLine + 1), which sanpath manages, comes later and wins where both set a key"))
            }
            setKeys(from: wanted, of: rendered, in: target, label: targetLabel, skip: ["vendor", "product"])
            unsetKeys(in: target, wanted: wanted, label: targetLabel)
            reportOverrides(against: wanted)
            return
        }
        for setting in wanted.settings {
            changes.append(
                Change(
                    section: label, key: setting.key, old: nil, new: setting.value,
                    reason: identity.reason(for: setting, in: wanted, of: rendered), line: nil))
        }
        reportOverrides(against: wanted)
        if let devices = devicesSections.last, let close = devices.closeLine {
            edits.append(.insert(before: close, lines: block(wanted, in: rendered, depth: 0, unit: childUnit(of: devices))))
            return
        }
        guard let renderedDevices = rendered.sections(named: "devices").last else { return }
        var lines = block(renderedDevices, in: rendered, depth: 0)
        if let last = conf.lines.lines.last, !last.text.trimmingWhitespace().isEmpty { lines.insert("", at: 0) }
        edits.append(.insert(before: conf.lines.lines.count, lines: lines))
    }

    /// Comments out the keys the profile takes out of the array's section (a fixed `prio` on
    /// VNX, `rr_min_io` on request-based maps), each with the profile's reason.
    mutating func unsetKeys(in target: MultipathSection, wanted: MultipathSection, label: String) {
        for unset in identity.deviceUnset where wanted.value(of: unset.text) == nil {
            for setting in target.settings where setting.key == unset.text {
                let line = conf.lines.lines[setting.line].text
                let indent = line.leadingIndentation
                let body = String(line.dropFirst(indent.count))
                edits.append(.replace(line: setting.line, with: ["\(indent)# sanpath: \(unset.reason)", "\(indent)# \(body)"]))
                changes.append(
                    Change(
                        section: label, key: setting.key, old: setting.value, new: nil,
                        reason: "commented out by \(identity.profileName) profile: \(unset.reason)", line: setting.line + 1))
            }
        }
    }

    /// `overrides` beats every device section: say so when it sets a key the profile needs.
    mutating func reportOverrides(against wanted: MultipathSection) {
        for overrides in conf.sections(named: "overrides") {
            for setting in overrides.settings {
                guard let profileValue = wanted.value(of: setting.key), profileValue != setting.value else { continue }
                diagnostics.append(
                    Diagnostic(
                        .warning, at: conf.location(line: setting.line, column: setting.keyColumn),
                        "overrides sets \(setting.key) \(setting.value), which beats the \(identity.profileName) profile's \(setting.key) \(profileValue) for these LUNs; sanpath leaves overrides to you",
                        text: "\(setting.key) \(setting.value)"))
            }
        }
    }
}
