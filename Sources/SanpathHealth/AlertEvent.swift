import Foundation

/// How bad a finding or alert is.
public enum Severity: String, Sendable, Hashable, Codable, Comparable, CaseIterable {
    /// Worth showing, never paged.
    case info
    /// Redundancy lost, still serving.
    case warning
    /// I/O cannot flow (a map without paths, every SAN host down).
    case critical

    private var rank: Int {
        switch self {
        case .info: 0
        case .warning: 1
        case .critical: 2
        }
    }

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// A path named the way an admin looks for it: disk, map, iface, NIC, portal, target.
public struct PathRef: Sendable, Hashable, Codable, Comparable {
    /// `sdb` (or `8:16` when the disk is gone from sysfs).
    public var device: String
    /// The map it belongs to.
    public var map: String?
    /// open-iscsi iface.
    public var iface: String?
    /// NIC the session runs over.
    public var nic: String?
    /// `address:port` of the portal.
    public var portal: String?
    /// Target IQN.
    public var target: String?

    /// Creates a path reference.
    public init(device: String, map: String? = nil, iface: String? = nil, nic: String? = nil, portal: String? = nil, target: String? = nil) {
        self.device = device
        self.map = map
        self.iface = iface
        self.nic = nic
        self.portal = portal
        self.target = target
    }

    /// `sdb (mpatha) via iface1/eth1 to 10.0.0.2:3260`.
    public var description: String {
        var text = device
        if let map { text += " (\(map))" }
        if iface != nil || nic != nil { text += " via \(iface ?? "-")/\(nic ?? "-")" }
        if let portal { text += " to \(portal)" }
        return text
    }

    public static func < (lhs: PathRef, rhs: PathRef) -> Bool {
        (lhs.map ?? "", lhs.device) < (rhs.map ?? "", rhs.device)
    }
}

/// One transition of an alert, as every sink receives it and as the daemon prints it on stdout:
/// `{"time", "state": "firing"|"resolved", "kind", "summary", "maps": […], "paths": […]}` plus
/// identity for de-duplication.
public struct AlertEvent: Sendable, Hashable, Codable {
    /// firing or resolved.
    public enum State: String, Sendable, Hashable, Codable {
        case firing
        case resolved
    }

    /// Unique per transition: the same event delivered twice has the same id.
    public var id: String
    /// Stable for the alert across its transitions (`nic-down:eth1`).
    public var alertKey: String
    /// When the transition happened.
    public var time: Date
    /// firing or resolved.
    public var state: State
    /// `path-lost`, `nic-down`, `portal-unreachable`, `map-no-path`, `san-host-unreachable`, …
    public var kind: String
    /// How bad.
    public var severity: Severity
    /// One line for a person.
    public var summary: String
    /// Maps it concerns.
    public var maps: [String]
    /// Paths it concerns.
    public var paths: [PathRef]
    /// When the alert started firing.
    public var startedAt: Date

    /// Creates an event.
    public init(
        id: String, alertKey: String, time: Date, state: State, kind: String, severity: Severity, summary: String,
        maps: [String], paths: [PathRef], startedAt: Date
    ) {
        self.id = id
        self.alertKey = alertKey
        self.time = time
        self.state = state
        self.kind = kind
        self.severity = severity
        self.summary = summary
        self.maps = maps
        self.paths = paths
        self.startedAt = startedAt
    }
}
