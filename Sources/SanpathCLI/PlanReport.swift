import Foundation
import SanpathConfig
import SanpathCore
import SanpathProvision

/// How a plan is shown: a text report with a coloured unified diff, or JSON for scripts and
/// Ansible (`changed: true|false`).
enum PlanReport {
    static func text(_ plan: Plan, color: Bool, redactor: Redactor) -> String {
        let (bold, yellow, dim, reset) = color ? ("\u{1B}[1m", "\u{1B}[33m", "\u{1B}[2m", "\u{1B}[0m") : ("", "", "", "")
        var out = ""
        let changed = plan.files.filter(\.isChanged)
        let origin = plan.multipathVersionOrigin.map { " (\($0.phrase))" } ?? ""
        out += "\(bold)sanpath plan\(reset): \(plan.profileName) profile, multipath-tools \(plan.multipathVersion) rules\(origin), "
        out += "open-iscsi database \(plan.iscsiDatabase)\n"
        out += "\(plan.files.count) managed files: \(changed.filter { $0.before == nil }.count) to create, "
        out += "\(changed.filter { $0.before != nil }.count) to change, \(plan.files.count - changed.count) unchanged\n"
        for file in plan.files {
            out += "\n\(bold)\(file.realPath)\(reset) (\(file.action)"
            out += file.changes.isEmpty ? ")\n" : ", \(file.changes.count) change\(file.changes.count == 1 ? "" : "s"))\n"
            for change in file.changes {
                out += "  " + describe(change) + "\n"
            }
            for diagnostic in file.diagnostics {
                let colour = diagnostic.severity == .note ? dim : yellow
                out += "  \(colour)\(diagnostic.severity.rawValue): \(diagnostic.location): \(diagnostic.message)\(reset)\n"
            }
            if file.isChanged {
                out += file.diff(color: color, redactor: redactor)
            }
        }
        if !plan.staleNodeRecords.isEmpty {
            out += "\n\(bold)Node records that keep old values\(reset) (open-iscsi copies iscsid.conf only into new records;\n"
            out += "`sanpath apply --update-node-records` updates these with iscsiadm -o update, without logging out):\n"
            for record in plan.staleNodeRecords {
                let settings = record.settings.map { "\($0.key) \($0.current) -> \($0.wanted)" }.joined(separator: ", ")
                out += "  \(record.target) \(record.portal) iface \(record.iface): \(settings)\n"
            }
        }
        out += "\n"
        out += plan.changed
            ? "\(changed.count) file\(changed.count == 1 ? "" : "s") would change; `sanpath apply` with the same options writes them.\n"
            : "The host already matches the \(plan.profileName) profile.\n"
        return out
    }

    static func describe(_ change: Change) -> String {
        var text = change.line.map { "line \($0): " } ?? "new: "
        if let section = change.section { text += "\(section) " }
        text += change.key
        switch (change.old, change.new) {
        case (nil, let new?): text += " = \(show(new))"
        case (let old?, nil): text += " \(show(old)) removed"
        case (let old?, let new?): text += " \(show(old)) -> \(show(new))"
        case (nil, nil): break
        }
        return text + "  (\(change.reason))"
    }

    static func show(_ value: String) -> String {
        (value.isEmpty || value.contains(" ")) && !value.contains("\"") ? "\"\(value)\"" : value
    }

    struct JSONPlan: Encodable {
        var changed: Bool
        var profile: String
        var multipathTools: String
        /// "installed", "flag" or "fallback" (Debian 12's 0.9.4, no multipath installed).
        var multipathToolsFrom: String?
        var iscsiDatabase: String
        var files: [JSONFile]
        var staleNodeRecords: [StaleNodeRecord]
    }

    struct JSONFile: Encodable {
        var path: String
        var file: String
        var action: String
        var changed: Bool
        var changes: [Change]
        var diagnostics: [JSONDiagnostic]
        var diff: String
    }

    struct JSONDiagnostic: Encodable {
        var severity: String
        var file: String
        var line: Int?
        var column: Int?
        var message: String
        var text: String?

        init(_ d: Diagnostic) {
            severity = d.severity.rawValue
            file = d.location.source
            line = d.location.line
            column = d.location.column
            message = d.message
            text = d.text
        }
    }

    static func json(_ plan: Plan, redactor: Redactor) -> String {
        let value = JSONPlan(
            changed: plan.changed, profile: plan.profileName, multipathTools: plan.multipathVersion.description,
            multipathToolsFrom: plan.multipathVersionOrigin?.rawValue,
            iscsiDatabase: plan.iscsiDatabase,
            files: plan.files.map { file in
                JSONFile(
                    path: file.path, file: file.realPath, action: file.action, changed: file.isChanged, changes: file.changes,
                    diagnostics: file.diagnostics.map(JSONDiagnostic.init), diff: file.diff(color: false, redactor: redactor))
            }, staleNodeRecords: plan.staleNodeRecords)
        return encode(value)
    }

    struct JSONError: Encodable {
        var changed = false
        var error: String
        var code: String
        var diagnostics: [JSONDiagnostic]
    }

    static func jsonError(_ error: SanpathError) -> String {
        encode(JSONError(error: error.message, code: error.code.name, diagnostics: error.diagnostics.map(JSONDiagnostic.init)))
    }

    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
