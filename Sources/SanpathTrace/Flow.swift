/// A line that shows a hop: where it is, when, on which host, and what it says.
public struct Evidence: Sendable, Hashable, Codable {
    /// `file:line`.
    public var position: LogPosition
    /// When.
    public var time: LogTime
    /// The host whose log it is.
    public var host: String
    /// The level as printed.
    public var level: String
    /// The message (the first continuation line, e.g. an exception, appended after ` / `).
    public var text: String
    /// What it shows.
    public var outcome: Statement.Outcome

    init(_ record: LogRecord, _ outcome: Statement.Outcome) {
        position = record.position
        time = record.time
        host = record.host
        level = record.level
        var text = record.message.trimmingSpaces
        if let first = record.continuation.first(where: { !$0.trimmingSpaces.isEmpty }) { text += " / " + first.trimmingSpaces }
        self.text = text
        self.outcome = outcome
    }
}

/// Where a hop stands in one operation.
public enum HopStatus: String, Sendable, Hashable, Codable {
    /// A line shows it happened.
    case seen
    /// A line shows it happened and failed.
    case failed
    /// No line shows it, and nothing after it happened: the flow stopped here.
    case missing
    /// No line shows it, but a later hop happened: its log was not read (another SC of an HA pair,
    /// a rotated-away file) or its level is not logged.
    case unseen
}

/// One hop of one operation with its evidence.
public struct HopTrace: Sendable, Hashable, Codable {
    /// The hop.
    public var hop: Hop
    /// Where it stands.
    public var status: HopStatus
    /// The lines that show it (first and last of repeats).
    public var evidence: [Evidence]
}

/// The known causes, from the Eucalyptus attach/detach debugging guide and the sources.
public enum Cause: String, Sendable, Hashable, Codable {
    /// GetVolumeToken never reached the SC.
    case tokenMissing = "get-volume-token-missing"
    /// The SC answered GetVolumeToken with an error.
    case tokenFailed = "get-volume-token-failed"
    /// ExportVolume never reached the SC.
    case exportMissing = "export-volume-missing"
    /// ExportVolume reached the SC and failed there.
    case exportFailed = "export-volume-failed"
    /// The NC got no block device (iSCSI login or device lookup failed).
    case deviceFailed = "local-device-failed"
    /// The NC could not take the device from the guest or disconnect the LUN.
    case disconnectFailed = "nc-detach-failed"
    /// UnexportVolume never reached the SC.
    case unexportMissing = "unexport-volume-missing"
    /// UnexportVolume reached the SC and failed there, or the NC's call failed.
    case unexportFailed = "unexport-volume-failed"
    /// The delete is held back because the volume is still exported.
    case deleteBlockedByExport = "delete-blocked-by-export"
    /// The delete failed for another reason.
    case deleteFailed = "delete-failed"
    /// The operation's last step is not logged (still running, or the logs end).
    case incomplete = "incomplete"
}

/// What stopped an operation, why, and what to do.
public struct Problem: Sendable, Hashable, Codable {
    /// The operation.
    public var operation: OperationKind
    /// The first hop missing or failed.
    public var hop: Hop
    /// Missing or failed.
    public var status: HopStatus
    /// The known cause it matches.
    public var cause: Cause
    /// What happened, for a cloud admin.
    public var summary: String
    /// What to check next, in order.
    public var next: [String]
    /// The lines behind it.
    public var evidence: [Evidence]
}

/// One operation of the volume: its hops, and the first one missing or failed.
public struct OperationTrace: Sendable, Hashable, Codable {
    /// Create, attach, detach or delete.
    public var kind: OperationKind
    /// When its first line was written.
    public var start: LogTime?
    /// The flow's hops in order.
    public var hops: [HopTrace]
    /// What stopped it; nil when it went through.
    public var problem: Problem?
    /// Facts read along the way: SC URL, target, node, CLC state.
    public var facts: [String: String]
    /// True when no line shows this operation and it was inferred (an attach that failed at once).
    public var inferred: Bool
}
