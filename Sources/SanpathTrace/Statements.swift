/// The flow a volume goes through, as the SC, NC and CLC log it.
public enum OperationKind: String, Sendable, Hashable, Codable, CaseIterable {
    case create, attach, detach, delete
}

/// One hop of an operation: a message between components, or a step on one of them.
public enum Hop: String, Sendable, Hashable, Codable, CaseIterable {
    /// SC: `Processing CreateStorageVolume request` (CLC → SC).
    case createStorageVolume = "CreateStorageVolume"
    /// SC: `Processing GetVolumeToken request` (CLC → SC).
    case getVolumeToken = "GetVolumeToken"
    /// NC: `volume attaching` (CC → NC doAttachVolume; DEBUG), or an instance run with an EBS volume.
    case doAttachVolume = "doAttachVolume"
    /// SC: `Processing ExportVolume request` (NC → SC, SOAP on 8773).
    case exportVolume = "ExportVolume"
    /// NC: iSCSI login and a local block device (`attached iSCSI target`, `volume attached as host device`).
    case localDevice = "iSCSI device"
    /// NC: `volume detaching` (doDetachVolume; DEBUG), or an instance stop/terminate.
    case doDetachVolume = "doDetachVolume"
    /// NC: guest device removed, LUN deleted via sysfs, session logged out (`attempting to disconnect iscsi target`).
    case disconnect = "iSCSI disconnect"
    /// SC: `Processing UnexportVolume request` (NC → SC).
    case unexportVolume = "UnexportVolume"
    /// NC: `detached as host device` (INFO): the detach finished.
    case detached = "detached"
    /// SC: `Processing DeleteStorageVolume request` (CLC → SC).
    case deleteStorageVolume = "DeleteStorageVolume"
    /// SC: the deleter task (every minute) checks the export: `marked for deletion. Checking export status`.
    case exportCheck = "export check"
    /// SC: `was marked for deletion. Cleaning up...` and no failure after it.
    case cleanup = "cleanup"

    /// The operation it belongs to.
    public var operation: OperationKind {
        switch self {
        case .createStorageVolume: .create
        case .getVolumeToken, .doAttachVolume, .exportVolume, .localDevice: .attach
        case .doDetachVolume, .disconnect, .unexportVolume, .detached: .detach
        case .deleteStorageVolume, .exportCheck, .cleanup: .delete
        }
    }

    /// The hops of an operation, in the flow's order.
    public static func flow(_ kind: OperationKind) -> [Hop] {
        allCases.filter { $0.operation == kind }
    }

    /// Its place in its operation's flow.
    public var order: Int { Self.flow(operation).firstIndex(of: self) ?? 0 }

    /// Which component logs it.
    public var loggedBy: String {
        switch self {
        case .doAttachVolume, .localDevice, .doDetachVolume, .disconnect, .detached: "NC"
        default: "SC"
        }
    }

    /// True for a hop only visible when the NC logs at DEBUG: its absence is not a finding.
    var debugOnly: Bool { self == .doAttachVolume || self == .disconnect || self == .doDetachVolume }
}

/// What one log statement says about a hop.
public struct Statement: Sendable, Hashable {
    /// What a statement shows.
    public enum Outcome: String, Sendable, Hashable, Codable {
        /// The hop happened.
        case reached
        /// The hop happened and failed.
        case failed
        /// Context: a URL, a target, a state; not a hop by itself.
        case note
    }

    /// The hop.
    public var hop: Hop
    /// What it shows.
    public var outcome: Outcome
    /// Facts read from the text: `scURL`, `node`, `iqn`, `target`, `lun`, `reason`, `version`.
    public var facts: [String: String]
    /// True when this statement may open a new operation of its kind (a retry).
    public var opens: Bool

    init(_ hop: Hop, _ outcome: Outcome, facts: [String: String] = [:], opens: Bool = false) {
        self.hop = hop
        self.outcome = outcome
        self.facts = facts
        self.opens = opens
    }
}

/// The statements of Eucalyptus' sources a trace reads (shared/reference/eucalyptus-logs.md and the
/// fixtures' README name the file of each). `volume` is the volume traced; `instance` its instance
/// when known (an EBS root volume shows on the NC only through instance lines).
public enum StatementTable {
    /// What `record` says about `volume`, or nil when nothing.
    public static func classify(_ record: LogRecord, volume: String, instance: String?) -> Statement? {
        let m = record.message
        switch record.kind {
        case .cloudOutput: return cloudOutput(m, volume: volume)
        case .nc: return nc(m, volume: volume, instance: instance)
        }
    }

    static func cloudOutput(_ m: String, volume v: String) -> Statement? {
        // BlockStorageController.java (3.4) / BlockStorage.java (3.3): the requests
        if m.hasPrefix("Processing CreateStorageVolume request for volume \(v)") { return .init(.createStorageVolume, .reached, opens: true) }
        if m.hasPrefix("Processing GetVolumeToken request for volume \(v)") { return .init(.getVolumeToken, .reached, opens: true) }
        if m.hasPrefix("Processing ExportVolume request for volume \(v)") { return .init(.exportVolume, .reached) }
        if m.hasPrefix("Processing UnexportVolume request for volume \(v)") {
            var facts: [String: String] = [:]
            if let node = m.after(" from node ")?.word { facts["node"] = node }
            if let iqn = m.after(" with iqn ")?.word { facts["nodeIQN"] = iqn }
            return .init(.unexportVolume, .reached, facts: facts)
        }
        if m.hasPrefix("Processing DeleteStorageVolume request for volume \(v)") { return .init(.deleteStorageVolume, .reached, opens: true) }
        // GetVolumeToken failures (id-less ones are attributed by thread/context)
        if m.hasPrefix("Failed to get volume token: ") || m.hasPrefix("Could not get volume token for volume \(v)")
            || m.hasPrefix("Error creating new volume token for \(v)")
        {
            return .init(.getVolumeToken, .failed, facts: ["reason": m])
        }
        // ExportVolume failures
        if m.hasPrefix("Could not attach volume: ") || m.hasPrefix("Failed ExportVolume transaction due to: ")
            || m.hasPrefix("Could not check for valid token") || m.hasPrefix("No volume db record found for \(v)")
            || m.hasPrefix("Could not export volume \(v)") || m.hasPrefix("Unable to export volume \(v)")
            || m.hasPrefix("Failed to attach volume \(v)") || m.hasPrefix("Token requested is not valid token for volume \(v)")
        {
            return .init(.exportVolume, .failed, facts: ["reason": m])
        }
        // ISCSIManager (DEBUG): "Exporting vol-X as target: tid,name,lun,path,user"
        if m.hasPrefix("Exporting \(v) as target: ") {
            let parts = m.dropFirst("Exporting \(v) as target: ".count).split(separator: ",", omittingEmptySubsequences: false)
            var facts: [String: String] = [:]
            if parts.count >= 3 {
                facts["target"] = String(parts[1])
                facts["lun"] = String(parts[2])
            }
            return .init(.exportVolume, .note, facts: facts)
        }
        // UnexportVolume failures
        if m.hasPrefix("Invalid token in request for volume \(v)") || m.hasPrefix("Could not detach volume: \(v)")
            || m.hasPrefix("Failed UnexportVolume due to: ") || m.hasPrefix("Error invalidating the export record in the DB for volume \(v)")
        {
            return .init(.unexportVolume, .failed, facts: ["reason": m])
        }
        // the deleter task (VolumeDeleterTask, every minute)
        if m.hasPrefix("Volume: \(v) marked for deletion. Checking export status") { return .init(.exportCheck, .reached) }
        if m.hasPrefix("Volume \(v) found to be exported. Cannot delete. Skipping and will retry later") {
            return .init(.cleanup, .failed, facts: ["reason": m, "version": "3.3.0"])
        }
        if m.hasPrefix("Volume: \(v) found to be exported. Detaching volume from all hosts") {
            return .init(.exportCheck, .note, facts: ["exported": "yes", "version": "3.3.1+"])
        }
        if m.hasPrefix("Volume: \(v) was marked for deletion with no exports found. Cleaning up...") {
            return .init(.cleanup, .reached, facts: ["version": "3.3.0"])
        }
        if m.hasPrefix("Volume: \(v) was marked for deletion. Cleaning up...") { return .init(.cleanup, .reached, facts: ["version": "3.3.1+"]) }
        if m.hasPrefix("Cannot delete volume \(v) because it is currently exported") || m.hasPrefix("All attempts to cleanup volume \(v) failed")
            || m.hasPrefix("Error deleting volume \(v)") || m.hasPrefix("Failed to fully detach volume \(v)")
            || m.contains("Unable to delete volume: \(v)")
        {
            return .init(.cleanup, .failed, facts: ["reason": m])
        }
        // CLC: DetachVolume cleanup after a failed attach; the volume's state as the CLC sees it
        if m.hasPrefix("Processing DetachVolume request for volume \(v)") { return .init(.exportVolume, .note, facts: ["clcDetach": "yes"]) }
        if m.hasPrefix("VolumeStateUpdate: "), m.contains(" \(v) ") {
            return .init(.getVolumeToken, .note, facts: ["clcState": String(m.dropFirst("VolumeStateUpdate: ".count))])
        }
        return nil
    }

    static func nc(_ m: String, volume v: String, instance: String?) -> Statement? {
        let body = m.drop { $0 == " " || $0 == "\t" }
        // storage/storage-controller.c scClientCall: "\tdone scOps=Op clientrc=N opFail=N" (attributed by thread)
        if body.hasPrefix("done scOps=") {
            let op = body.after("scOps=")?.word ?? ""
            let rc = body.after("clientrc=")?.word ?? "0"
            let fail = body.after("opFail=")?.word ?? "0"
            let failed = rc != "0" || fail != "0"
            let facts = ["scOps": String(body)]
            switch op {
            case "ExportVolume": return .init(.exportVolume, failed ? .failed : .note, facts: failed ? facts.merging(["reason": String(body)]) { a, _ in a } : facts)
            case "UnexportVolume": return .init(.unexportVolume, failed ? .failed : .note, facts: failed ? facts.merging(["reason": String(body)]) { a, _ in a } : facts)
            default: return nil
            }
        }
        // storage/ebs_utils.c and storage/iscsi.c, id-less or [vol-X]-only
        if body.hasPrefix("Failed to get connection information for volume \(v) from storage controller at: ") {
            let url = body.after("storage controller at: ").map { String($0).trimmingSpaces } ?? ""
            return .init(.exportVolume, .failed, facts: ["reason": String(body), "ncSide": "yes", "scURL": url])
        }
        if body.hasPrefix("Failed to connect to iSCSI target: ") { return .init(.localDevice, .failed, facts: ["reason": String(body)]) }
        if body.hasPrefix("[\(v)] attempting to disconnect iscsi target") { return .init(.disconnect, .reached) }
        if body.hasPrefix("[\(v)] failed to disconnect iscsi target") { return .init(.disconnect, .failed, facts: ["reason": String(body)]) }
        if body.hasPrefix("[\(v)] Cannot invoke SC UnexportVolume, SC URL is invalid") {
            return .init(.unexportVolume, .failed, facts: ["reason": String(body), "ncSide": "yes"])
        }
        if body.hasPrefix("ERROR unexporting volume \(v)") { return .init(.unexportVolume, .failed, facts: ["reason": String(body), "ncSide": "yes"]) }
        if body.hasPrefix("Error connecting ebs volume sc://\(v),") || body.hasPrefix("Error connecting ebs volume \(v)") {
            return .init(.localDevice, .failed, facts: ["reason": String(body), "generic": "yes"])
        }
        // node/handlers.c, handlers_default.c, server-marshal.c: "[i-X][vol-X] ..."
        if let instanceVolume = body.bracketed(2), instanceVolume[1] == v {
            let rest = body.dropFirst(instanceVolume[0].count + v.count + 4).drop { $0 == " " }
            if rest.hasPrefix("volume attaching") { return .init(.doAttachVolume, .reached, facts: ["instance": instanceVolume[0]], opens: true) }
            if rest.hasPrefix("Using SC URL: ") || rest.hasPrefix("Using SC Url: ") {
                return .init(.exportVolume, .note, facts: ["scURL": String(rest.dropFirst("Using SC URL: ".count)).trimmingSpaces])
            }
            if rest.hasPrefix("attached iSCSI target of host device") || rest.hasPrefix("volume attached as host device") {
                return .init(.localDevice, .reached, facts: ["device": rest.quoted.first ?? "", "guest": rest.quoted.dropFirst().first ?? ""])
            }
            if rest.hasPrefix("failed to connect to iscsi target") || rest.hasPrefix("Failed to lookup enabled Storage Controller")
                || rest.hasPrefix("cannot verify that host device") || rest.hasPrefix("failed to attach host device")
            {
                return .init(.localDevice, .failed, facts: ["reason": String(rest)])
            }
            if rest.hasPrefix("volume detaching") { return .init(.doDetachVolume, .reached, facts: ["instance": instanceVolume[0]], opens: true) }
            if rest.hasPrefix("failed to detach host device") || rest.hasPrefix("failed to find the local volume attachment record") {
                return .init(.doDetachVolume, .failed, facts: ["reason": String(rest)])
            }
            if rest.hasPrefix("could not obtain SC URL") { return .init(.unexportVolume, .failed, facts: ["reason": String(rest), "ncSide": "yes"]) }
            if rest.hasPrefix("failed to disconnect volume") { return .init(.detached, .failed, facts: ["reason": String(rest)]) }
            if rest.hasPrefix("detached as host device") {
                return .init(.detached, .reached, facts: ["device": rest.quoted.first ?? "", "guest": rest.quoted.dropFirst().first ?? ""])
            }
            if rest.hasPrefix("remote device string: ") {
                var facts: [String: String] = [:]
                if let iqn = rest.split(separator: ",").first(where: { $0.hasPrefix("iqn.") }) { facts["target"] = String(iqn).trimmingSpaces }
                return .init(.localDevice, .note, facts: facts)
            }
            if rest.hasPrefix("failed error=") { return .init(.localDevice, .note, facts: ["marshal": String(rest)]) }
            return nil
        }
        // an EBS-backed instance: its root volume shows on the NC only through instance lines
        if let instance, let ids = body.bracketed(1), ids[0] == instance {
            let rest = body.dropFirst(instance.count + 2).drop { $0 == " " }
            if rest.hasPrefix("booting") { return .init(.localDevice, .reached, facts: ["instanceLine": "yes"]) }
            if rest.hasPrefix("failed to attach volume during VBR construction") {
                return .init(.localDevice, .failed, facts: ["reason": String(rest), "instanceLine": "yes"])
            }
            if rest.hasPrefix("instance shutdown requested") || rest.hasPrefix("termination requested") {
                return .init(.doDetachVolume, .reached, facts: ["instanceLine": "yes"], opens: true)
            }
            if rest.hasPrefix("cleaning up state for instance") { return .init(.detached, .reached, facts: ["instanceLine": "yes"]) }
            if rest.hasPrefix("failed to disconnect volume attached to") { return .init(.detached, .failed, facts: ["reason": String(rest)]) }
        }
        return nil
    }
}

extension StringProtocol {
    /// The text after the first `marker`.
    func after(_ marker: String) -> SubSequence? {
        guard let range = range(of: marker) else { return nil }
        return self[range.upperBound...]
    }

    /// The first space-separated word.
    var word: String { String(prefix { $0 != " " && $0 != "\t" }) }

    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }

    /// The first `count` `[…]` groups at the start, e.g. `[i-X][vol-X]`.
    func bracketed(_ count: Int) -> [String]? {
        var out: [String] = []
        var rest = self[...]
        for _ in 0..<count {
            guard rest.first == "[", let close = rest.firstIndex(of: "]") else { return nil }
            out.append(String(rest[rest.index(after: rest.startIndex)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return out
    }

    /// The `'…'` quoted parts.
    var quoted: [String] {
        split(separator: "'", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }
}
