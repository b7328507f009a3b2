import SanpathConfig
import SanpathCore
import SanpathHost
import SanpathProfiles
import SanpathSite

/// Which grammar a managed file follows; decides how its lines are redacted and merged.
public enum FileGrammar: String, Sendable, Codable {
    /// multipath.conf
    case multipath
    /// iscsid.conf, iface files, node records
    case openISCSI = "open-iscsi"
    /// A file sanpath owns whole (the udev rule).
    case whole
}

/// What a plan does to one file.
public struct FilePlan: Sendable {
    /// Host path (`/etc/multipath.conf`).
    public var path: String
    /// Real path (under `--root`), for messages.
    public var realPath: String
    /// Which managed file.
    public var kind: ManagedFile
    /// Its grammar.
    public var grammar: FileGrammar
    /// The file now; nil when the host does not have it.
    public var before: TextLines?
    /// The file after apply.
    public var after: TextLines
    /// Every change with its reason.
    public var changes: [Change]
    /// Warnings and notes about the host's file.
    public var diagnostics: [Diagnostic]
    /// Owner and mode of the existing file (kept), or nil for a new file.
    public var existingInfo: FileInfo?
    /// Mode for a new file.
    public var newFileMode: UInt32

    /// Whether apply would write it.
    public var isChanged: Bool { before != after }

    /// `create`, `modify` or `unchanged`.
    public var action: String { before == nil ? "create" : (isChanged ? "modify" : "unchanged") }

    /// A line for output, secrets masked.
    public func redact(_ line: String) -> String {
        grammar == .openISCSI ? ISCSIConf.redactedLine(line) : line
    }

    /// The unified diff (empty when unchanged).
    public func diff(color: Bool, redactor: Redactor) -> String {
        UnifiedDiff(old: before?.lines ?? [], new: after.lines).render(
            oldLabel: before == nil ? "/dev/null" : realPath, newLabel: realPath, color: color,
            redact: { redactor.redact(self.redact($0)) })
    }
}

/// A node record that keeps values the new iscsid.conf changes: open-iscsi copies iscsid.conf
/// into records only when they are created.
public struct StaleNodeRecord: Sendable, Hashable, Codable {
    /// One setting that differs.
    public struct Setting: Sendable, Hashable, Codable {
        /// The key.
        public var key: String
        /// The record's value (masked for secrets).
        public var current: String
        /// iscsid.conf's new value (masked for secrets).
        public var wanted: String
        /// The real new value, for the update; never printed.
        var wantedValue: String

        enum CodingKeys: String, CodingKey { case key, current, wanted }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            key = try container.decode(String.self, forKey: .key)
            current = try container.decode(String.self, forKey: .current)
            wanted = try container.decode(String.self, forKey: .wanted)
            wantedValue = wanted
        }

        init(key: String, current: String, wanted: String, wantedValue: String) {
            self.key = key
            self.current = current
            self.wanted = wanted
            self.wantedValue = wantedValue
        }
    }

    /// Target IQN.
    public var target: String
    /// Portal `address,port` as in the record path.
    public var portal: String
    /// Iface name (`default` for records without one).
    public var iface: String
    /// The record file (host path).
    public var path: String
    /// The settings that differ.
    public var settings: [Setting]
}

/// Where a plan's multipath-tools release came from.
public enum MultipathVersionOrigin: String, Sendable, Codable {
    /// `multipath -h` of the host.
    case installed
    /// `--multipath-version`.
    case flag
    /// No multipath to ask: Debian 12's release.
    case fallback

    /// For the plan's header: "multipath-tools 0.11.1 rules (the installed multipath)".
    public var phrase: String {
        switch self {
        case .installed: "the installed multipath"
        case .flag: "--multipath-version"
        case .fallback: "no multipath installed: Debian 12's"
        }
    }
}

/// Everything `plan` found: per file, the change set; and the node records left behind.
public struct Plan: Sendable {
    /// The site planned for.
    public var site: Site
    /// "equallogic nc".
    public var profileName: String
    /// The files, in a fixed order.
    public var files: [FilePlan]
    /// Node records that keep old iscsid.conf values.
    public var staleNodeRecords: [StaleNodeRecord]
    /// Where the host keeps open-iscsi's database.
    public var iscsiDatabase: String
    /// The multipath-tools release the plan targets.
    public var multipathVersion: MultipathToolsVersion
    /// Where that release came from (nil: the caller chose it).
    public var multipathVersionOrigin: MultipathVersionOrigin? = nil

    /// Whether apply would write anything.
    public var changed: Bool { files.contains(where: \.isChanged) }
}

/// Makes a plan: renders the profile, reads the host's files, merges. Reads only; a file
/// that does not parse is an error that stops the whole plan.
public struct Planner: Sendable {
    /// The host's files.
    public let fileSystem: any HostFileSystem
    /// The vendor profiles.
    public let profiles: ProfileLibrary
    /// The multipath-tools release to target.
    public let multipathVersion: MultipathToolsVersion
    /// Remembers every secret seen, for output.
    public let redactor: Redactor

    /// Creates a planner.
    public init(
        fileSystem: any HostFileSystem, profiles: ProfileLibrary, multipathVersion: MultipathToolsVersion = .debian12,
        redactor: Redactor = Redactor()
    ) {
        self.fileSystem = fileSystem
        self.profiles = profiles
        self.multipathVersion = multipathVersion
        self.redactor = redactor
    }

    /// Where this host keeps open-iscsi's ifaces and node records (`iscsiDatabase(on:)`).
    public func iscsiDatabase() -> String { Self.iscsiDatabase(on: fileSystem) }

    /// Where a host keeps open-iscsi's ifaces and node records: the directory that already has
    /// them, else `/var/lib/iscsi` if it exists (RHEL, and Debian 13, whose package ships it
    /// empty), else `/etc/iscsi` (Debian 12). Provisioning and the volume code both ask this.
    public static func iscsiDatabase(on fileSystem: any HostFileSystem) -> String {
        for base in [ISCSIDatabase.etc, ISCSIDatabase.varLib] {
            if fileSystem.isDirectory("\(base)/ifaces") || fileSystem.isDirectory("\(base)/nodes") { return base }
        }
        return fileSystem.isDirectory(ISCSIDatabase.varLib) ? ISCSIDatabase.varLib : ISCSIDatabase.etc
    }

    /// Plans. Throws `.invalidConfig` with every syntax error of every file.
    public func plan(_ site: Site) throws(SanpathError) -> Plan {
        if let chap = site.chap { redactor.register(chap.password) }
        let database = iscsiDatabase()
        let udevOrder = UdevRules.order(on: fileSystem)
        let rendered = try profiles.render(site, iscsiDatabase: database, udevRules: udevOrder)
        let meta = profiles.metadata(for: site.vendor)
        let profileName = "\(site.vendor.rawValue) \(site.role.rawValue)"
        let identity = ProfileIdentity(
            profileName: profileName, inquiryVendor: meta.inquiryVendor, inquiryProduct: meta.inquiryProduct,
            deviceUnset: meta.deviceUnset)

        var files: [FilePlan] = []
        var errors: [Diagnostic] = []
        for file in rendered {
            let real = fileSystem.resolve(file.path)
            let existingBytes = try fileSystem.read(file.path)
            let before = try existingBytes.map { (bytes) throws(SanpathError) in try TextLines(bytes: bytes, source: real) }
            let info = try fileSystem.info(file.path)
            var merged: MergeResult
            let grammar: FileGrammar
            switch file.kind {
            case .multipathConf:
                grammar = .multipath
                let renderedConf = MultipathConf(text: file.text, source: "template for \(file.path)")
                guard renderedConf.syntaxDiagnostics.isEmpty else {
                    throw SanpathError(
                        .invalidProfile, "the \(profileName) template renders a broken multipath.conf",
                        diagnostics: renderedConf.syntaxDiagnostics)
                }
                let existing = before.map { MultipathConf(lines: $0, source: real) }
                if let existing, !existing.syntaxDiagnostics.isEmpty {
                    errors += existing.syntaxDiagnostics
                    continue
                }
                merged = MultipathMerge.merge(
                    existing: consume existing, rendered: renderedConf, identity: identity, version: multipathVersion)
                try selfCheck(merged, real: real)
                if site.vendor == .vnx {
                    let luns = FailoverModes.visibleLUNs(on: fileSystem, vendor: meta.inquiryVendor, skipProducts: ["LUNZ"])
                    merged.diagnostics += FailoverModes.diagnostics(luns, source: real)
                }
            case .iscsidConf, .iface:
                grammar = .openISCSI
                let renderedConf = ISCSIConf(text: file.text, source: "template for \(file.path)")
                let existing = before.map { ISCSIConf(lines: $0, source: real) }
                if let existing {
                    for setting in existing.settings + existing.commentedSettings where Secrets.isSecretKey(setting.key) {
                        redactor.register(setting.value)
                    }
                    if !existing.syntaxDiagnostics.isEmpty {
                        errors += existing.syntaxDiagnostics
                        continue
                    }
                }
                let conflicts: [String: String] =
                    if case .iface = file.kind { ISCSIMerge.ifaceConflicts } else { [:] }
                merged = ISCSIMerge.merge(
                    existing: existing, rendered: renderedConf, profileName: profileName, conflicts: conflicts)
            case .sysctl:
                grammar = .whole
                merged = WholeFile.merge(
                    existing: before, rendered: TextLines(splitting: file.text), profileName: profileName, key: "setting")
            case .udevRule:
                grammar = .whole
                merged = WholeFile.merge(
                    existing: before, rendered: TextLines(splitting: file.text), profileName: profileName, key: "rule")
                // a permissions rule under another number runs before the dm rules and does nothing
                for other in fileSystem.list("/etc/udev/rules.d")
                where other.hasSuffix("-dm-permissions.rules") && "/etc/udev/rules.d/\(other)" != file.path {
                    merged.diagnostics.append(
                        Diagnostic(
                            .warning, at: SourceLocation(source: fileSystem.resolve("/etc/udev/rules.d/\(other)")),
                            "this host's device-mapper rules are \(udevOrder.dmRulesFileName): \(other) sorts elsewhere and does not own the maps; \(file.path) replaces it (remove the old one)"))
                }
            }
            var planned = FilePlan(
                path: file.path, realPath: real, kind: file.kind, grammar: grammar, before: before, after: merged.lines,
                changes: merged.changes, diagnostics: merged.diagnostics, existingInfo: info, newFileMode: 0o644)
            // iface files are 0600 as iscsiadm makes them; a file with a CHAP secret is 0600 as `render` writes it
            if case .iface = file.kind { planned.newFileMode = 0o600 }
            if planned.holdsSecret {
                planned.newFileMode = 0o600
                if let info, planned.writeInfo.mode != info.mode {
                    let mode = "0" + String(info.mode, radix: 8)
                    planned.diagnostics.append(
                        Diagnostic(
                            .warning, at: SourceLocation(source: real),
                            planned.isChanged
                                ? "\(real) is mode \(mode) and will hold a CHAP secret: apply narrows it to 0\(String(planned.writeInfo.mode, radix: 8)) (owner kept)"
                                : "\(real) holds a CHAP secret and is mode \(mode): others can read it; run chmod go-rwx \(real)"))
                }
            }
            files.append(planned)
        }
        guard errors.isEmpty else { throw SanpathError.invalidConfig(errors) }

        var stale: [StaleNodeRecord] = []
        if let iscsid = rendered.first(where: { $0.kind == .iscsidConf }) {
            stale = try staleNodeRecords(wanted: ISCSIConf(text: iscsid.text, source: iscsid.path), database: database)
        }
        return Plan(
            site: site, profileName: profileName, files: files, staleNodeRecords: stale, iscsiDatabase: database,
            multipathVersion: multipathVersion)
    }

    /// The merged file must be one multipath-tools accepts without a complaint sanpath could
    /// have fixed; anything else is a sanpath bug and nothing is written. Of a file merged into
    /// the host's, only the sections the merge edited are linted again: the others are the
    /// host's, in which the merge's lint pass found nothing to fix.
    func selfCheck(_ merged: MergeResult, real: String) throws(SanpathError) {
        let check = merged.multipathConf ?? MultipathConf(lines: merged.lines, source: real)
        let entries = merged.multipathConf?.editedEntries
        let left = check.syntaxDiagnostics + MultipathLint.findings(check, version: multipathVersion, entries: entries)
            .filter { !$0.edits.isEmpty }.map(\.diagnostic)
        guard left.isEmpty else {
            throw SanpathError(
                .invalidConfig, "internal error: the merged \(real) would still draw complaints; nothing was written",
                diagnostics: left)
        }
    }

    /// Settings Eucalyptus' attach writes into each node record on purpose (connect_iscsitarget_main.pl:
    /// login/logout timeouts, one login retry, the volume's CHAP user and secret): not drift.
    static let perRecordKeys: Set<String> = [
        "node.conn[0].timeo.login_timeout", "node.conn[0].timeo.logout_timeout", "node.session.initial_login_retry_max",
    ]

    /// Node records under `<database>/nodes` whose copies of the profile's `node.*` settings differ.
    func staleNodeRecords(wanted: ISCSIConf, database: String) throws(SanpathError) -> [StaleNodeRecord] {
        let managed = wanted.settings.filter {
            $0.accepted && $0.key.hasPrefix("node.") && !$0.key.hasPrefix("node.session.auth.")
                && !Planner.perRecordKeys.contains($0.key)
        }
        guard !managed.isEmpty else { return [] }
        var out: [StaleNodeRecord] = []
        let nodes = "\(database)/nodes"
        for target in fileSystem.list(nodes) {
            for portalEntry in fileSystem.list("\(nodes)/\(target)") {
                let portalPath = "\(nodes)/\(target)/\(portalEntry)"
                // open-iscsi 2.x: portal directory with one file per iface; a record made by `-o new`
                // (portal group unknown, as Eucalyptus makes them) and older ones: the portal is the
                // record, its iface named inside
                let records: [(iface: String, path: String)] =
                    fileSystem.isDirectory(portalPath)
                    ? fileSystem.list(portalPath).map { ($0, "\(portalPath)/\($0)") } : [("default", portalPath)]
                for record in records {
                    guard let bytes = try fileSystem.read(record.path) else { continue }
                    let conf = ISCSIConf(
                        lines: try TextLines(bytes: bytes, source: fileSystem.resolve(record.path)),
                        source: fileSystem.resolve(record.path))
                    for setting in conf.settings where Secrets.isSecretKey(setting.key) { redactor.register(setting.value) }
                    let iface = record.path == portalPath ? (conf.effective("iface.iscsi_ifacename")?.value ?? "default") : record.iface
                    var differing: [StaleNodeRecord.Setting] = []
                    for want in managed {
                        // a record without the key takes open-iscsi's compiled default: not ours to judge
                        guard let current = conf.effective(want.key)?.value, current != want.value else { continue }
                        differing.append(
                            StaleNodeRecord.Setting(
                                key: want.key,
                                current: Secrets.isSecretKey(want.key) ? Secrets.mask : current,
                                wanted: want.displayValue, wantedValue: want.value))
                    }
                    guard !differing.isEmpty else { continue }
                    let portal = portalEntry.split(separator: ",").prefix(2).joined(separator: ":")
                    out.append(
                        StaleNodeRecord(
                            target: target, portal: portal, iface: iface, path: record.path, settings: differing))
                }
            }
        }
        return out
    }
}

/// Files sanpath owns whole: the profile's text replaces the host's.
enum WholeFile {
    /// `key` names a line in the plan ("rule", "setting"); an added line's reason is the
    /// comment above it.
    static func merge(existing: TextLines?, rendered: TextLines, profileName: String, key: String) -> MergeResult {
        let owned = "set by \(profileName) profile (sanpath owns this file)"
        func reason(_ index: Int) -> String {
            rendered.commentBlock(above: index).map { "\(owned): \($0)" } ?? owned
        }
        guard let existing else {
            return MergeResult(
                lines: rendered,
                changes: rendered.lines.enumerated().filter { !$0.element.text.hasPrefix("#") && !$0.element.text.isEmpty }.map {
                    Change(section: nil, key: key, old: nil, new: $0.element.text, reason: reason($0.offset), line: nil)
                }, diagnostics: [])
        }
        guard existing != rendered else { return MergeResult(lines: existing, changes: [], diagnostics: []) }
        var changes: [Change] = []
        for change in rendered.lines.map(\.text).difference(from: existing.lines.map(\.text)) {
            switch change {
            case .remove(let offset, let text, _):
                changes.append(Change(section: nil, key: key, old: text, new: nil, reason: owned, line: offset + 1))
            case .insert(let offset, let text, _):
                changes.append(Change(section: nil, key: key, old: nil, new: text, reason: reason(offset), line: nil))
            }
        }
        if changes.isEmpty {
            changes.append(Change(section: nil, key: "line endings", old: nil, new: nil, reason: owned, line: nil))
        }
        return MergeResult(lines: rendered, changes: changes, diagnostics: [])
    }
}
