/// What this host still has for a volume's target and LUN: the live half of a trace, so that
/// "stuck in deleting" says whether the NC still has the volume connected.
public struct VolumeConnections: Sendable, Hashable, Codable {
    /// open-iscsi sessions to the target (`iscsiadm -m session`), one line each.
    public var sessions: [String]
    /// dm-multipath maps over the target's LUN.
    public var maps: [String]
    /// open-iscsi node records for the target.
    public var nodeRecords: [String]
    /// SCSI disks (paths) of the LUN.
    public var paths: [String]

    /// Creates the view.
    public init(sessions: [String] = [], maps: [String] = [], nodeRecords: [String] = [], paths: [String] = []) {
        self.sessions = sessions
        self.maps = maps
        self.nodeRecords = nodeRecords
        self.paths = paths
    }

    /// True when nothing is left.
    public var isEmpty: Bool { sessions.isEmpty && maps.isEmpty && nodeRecords.isEmpty && paths.isEmpty }
}

/// The live view's result.
public enum LiveView: Sendable, Hashable {
    /// The host could be asked.
    case seen(target: String, lun: Int?, VolumeConnections)
    /// It could not, and why.
    case unavailable(String)
}

/// The boundary to the volume code (`sanpath volume list`): what the host has for a target + LUN.
/// The real lookup belongs to the volume target; until it exists, `UnavailableConnectionsLookup`.
public protocol VolumeConnectionsLookup: Sendable {
    /// What this host still has for `target` (IQN) and `lun` (nil: any LUN of the target).
    func connections(target: String, lun: Int?) async -> LiveView
}

/// The lookup on a build without the volume code: it says so instead of guessing.
public struct UnavailableConnectionsLookup: VolumeConnectionsLookup {
    /// Why.
    public let reason: String

    /// Creates it with a reason.
    public init(reason: String) { self.reason = reason }

    public func connections(target: String, lun: Int?) async -> LiveView { .unavailable(reason) }
}
