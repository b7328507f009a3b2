/// What the logs say about one volume: its operations in order, and the verdict.
public struct VolumeTrace: Sendable, Hashable, Codable {
    /// The volume id.
    public var volume: String
    /// The instance it was traced through, if any.
    public var instance: String?
    /// Its operations in time order.
    public var operations: [OperationTrace]
    /// The first problem no later operation of the same kind went past; nil when the flow is clean.
    public var verdict: Problem?
    /// The SC hosts whose logs show this volume's requests (on an HA pair: the one ENABLED then).
    public var scHosts: [String]
    /// Notes that are no finding (HA, layouts, versions).
    public var notes: [String]
    /// The iSCSI target (IQN) and LUN the SC exported it as, when logged.
    public var target: String?
    /// The LUN, when logged.
    public var lun: Int?
    /// How many lines mention it.
    public var lineCount: Int
}

/// Builds a volume's operations from its records (a pure function of the lines).
public enum VolumeFlow {
    /// Reads `records` (any order) for `volume`. `ncLogsRead` says whether any nc.log was read at all,
    /// `ncDebug` whether one was in the DEBUG layout (thread and function columns).
    public static func build(
        volume: String, instance: String?, records: [LogRecord], ncLogsRead: Bool, ncDebug: Bool, scHostsRead: Set<String> = []
    ) -> VolumeTrace {
        var classified: [(record: LogRecord, statement: Statement, index: Int)] = []
        for (index, record) in records.enumerated() {
            if let statement = StatementTable.classify(record, volume: volume, instance: instance) {
                classified.append((record, statement, index))
            }
        }
        // time first; within a second, the flow's own order (GetVolumeToken before the NC's attach)
        classified.sort {
            if $0.record.time != $1.record.time { return $0.record.time < $1.record.time }
            let a = ($0.statement.hop.operation.order, $0.statement.hop.order)
            let b = ($1.statement.hop.operation.order, $1.statement.hop.order)
            if a != b { return a < b }
            return $0.index < $1.index
        }

        var builders: [OperationBuilder] = []
        var volumeFacts: [String: String] = [:]
        var clcStates: [Evidence] = []
        for item in classified {
            let statement = item.statement
            if statement.outcome == .note {
                if let state = statement.facts["clcState"] {
                    clcStates.append(Evidence(item.record, .note))
                    volumeFacts["clcState"] = state
                }
                for (key, value) in statement.facts where key != "clcState" { volumeFacts[key] = value }
                if !builders.isEmpty { builders[builders.count - 1].note(statement, item.record) }
                continue
            }
            let kind = statement.hop.operation
            if let current = builders.last, current.kind == kind, !(statement.opens && current.reachedOrder >= statement.hop.order) {
                builders[builders.count - 1].add(statement, item.record)
            } else {
                var builder = OperationBuilder(kind: kind)
                builder.add(statement, item.record)
                builders.append(builder)
            }
        }

        var operations = builders.map { $0.finish(ncLogsRead: ncLogsRead, ncDebug: ncDebug) }
        // an attach that failed at once leaves no line of its own: say so when the volume was never attached
        let everAttached = operations.contains { $0.kind == .attach || $0.kind == .detach }
        let deleted = operations.contains { $0.kind == .delete }
        if !everAttached, !deleted, !operations.isEmpty || !clcStates.isEmpty {
            operations.append(inferredAttach(clcStates: clcStates, start: operations.last?.start ?? clcStates.first?.time))
        }

        // the verdict: the first problem that no later operation of its kind went past
        var verdict: Problem?
        for (index, operation) in operations.enumerated() {
            guard var problem = operation.problem else { continue }
            let resolved = operations[(index + 1)...].contains { $0.kind == operation.kind && $0.problem == nil && !$0.inferred }
            if resolved { continue }
            if problem.cause == .unexportFailed || problem.cause == .unexportMissing,
                let blocked = operations[(index + 1)...].first(where: { $0.problem?.cause == .deleteBlockedByExport })?.problem
            {
                problem.summary += " The delete that followed is stuck for the same reason: " + blocked.summary
                problem.evidence += blocked.evidence
            }
            verdict = problem
            break
        }

        let records = classified.map(\.record)
        let scHosts = Array(Set(records.filter { $0.kind == .cloudOutput && $0.message.hasPrefix("Processing ") }.map(\.host))).sorted()
        var notes: [String] = []
        if scHostsRead.count > 1, !scHosts.isEmpty {
            let silent = scHostsRead.subtracting(scHosts).sorted()
            notes.append(
                "Requests for \(volume) were answered by \(scHosts.joined(separator: ", ")): on an HA pair that is the SC (or CLC) ENABLED at the time; "
                    + (silent.isEmpty ? "" : "the logs of \(silent.joined(separator: ", ")) have no request for it in that time, as a DISABLED peer's would not. ")
                    + "Eucalyptus logs service state changes only to cloud-exhaust.log (EventRecord at TRACE), so it is read from who answered.")
        }
        if let version = records.lazy.compactMap({ StatementTable.classify($0, volume: volume, instance: instance)?.facts["version"] }).first {
            notes.append("The SC's delete behaves as Eucalyptus \(version): " + (version == "3.3.0"
                ? "an exported volume is skipped every minute and never unexported by the SC."
                : "an exported volume is unexported from all hosts, then deleted (up to 20 tries 10 s apart)."))
        }
        let lun = volumeFacts["lun"].flatMap { Int($0) }
        return VolumeTrace(
            volume: volume, instance: instance, operations: operations, verdict: verdict, scHosts: scHosts, notes: notes,
            target: volumeFacts["target"], lun: lun, lineCount: records.count)
    }

    static func inferredAttach(clcStates: [Evidence], start: LogTime?) -> OperationTrace {
        let hops = Hop.flow(.attach).map { HopTrace(hop: $0, status: .missing, evidence: []) }
        let problem = Causes.problem(
            .tokenMissing, operation: .attach, hop: .getVolumeToken, status: .missing, facts: [:], evidence: clcStates)
        return OperationTrace(kind: .attach, start: start, hops: hops, problem: problem, facts: [:], inferred: true)
    }
}

extension OperationKind {
    var order: Int { Self.allCases.firstIndex(of: self) ?? 0 }
}

/// Collects one operation's statements.
struct OperationBuilder {
    let kind: OperationKind
    var lines: [Hop: [(Statement, LogRecord)]] = [:]
    var facts: [String: String] = [:]
    var start: LogTime?
    /// The furthest hop reached so far (-1: none).
    var reachedOrder = -1

    init(kind: OperationKind) { self.kind = kind }

    mutating func add(_ statement: Statement, _ record: LogRecord) {
        if start == nil { start = record.time }
        lines[statement.hop, default: []].append((statement, record))
        if statement.outcome != .note { reachedOrder = max(reachedOrder, statement.hop.order) }
        for (key, value) in statement.facts where key != "reason" { facts[key] = value }
    }

    mutating func note(_ statement: Statement, _ record: LogRecord) {
        for (key, value) in statement.facts { facts[key] = value }
        if statement.hop.operation == kind { lines[statement.hop, default: []].append((statement, record)) }
    }

    func finish(ncLogsRead: Bool, ncDebug: Bool) -> OperationTrace {
        let flow = Hop.flow(kind)
        var hops: [HopTrace] = []
        for hop in flow {
            let all = lines[hop] ?? []
            var failures = all.filter { $0.0.outcome == .failed }
            let reached = all.filter { $0.0.outcome == .reached }
            // "Error connecting ebs volume" follows any failed connect: it names no hop of its own
            if hop == .localDevice, failures.count > 0, failures.allSatisfy({ $0.0.facts["generic"] != nil }) {
                let exportBad = (lines[.exportVolume] ?? []).contains { $0.0.outcome == .failed }
                if exportBad { failures = [] }
            }
            // an NC-side failure of a call the SC never logged: the request did not reach the SC
            let scSide = hop.loggedBy == "SC"
            let status: HopStatus
            if !failures.isEmpty, !(scSide && reached.isEmpty && failures.allSatisfy { $0.0.facts["ncSide"] != nil || $0.0.facts["scOps"] != nil }) {
                status = .failed
            } else if !reached.isEmpty {
                status = .seen
            } else {
                status = .missing
            }
            let reachedEvidence = Self.firstAndLast(reached.map { Evidence($0.1, $0.0.outcome) })
            let failureEvidence = Self.firstFew(failures.map { Evidence($0.1, $0.0.outcome) })
            let evidence = (reachedEvidence.prefix(1) + failureEvidence + reachedEvidence.dropFirst()).sorted { $0.time < $1.time }
            hops.append(HopTrace(hop: hop, status: status, evidence: evidence))
        }
        // a missing hop before a hop that happened was not stopped there: its line is elsewhere
        if let lastHappened = hops.lastIndex(where: { $0.status == .seen }) {
            for index in 0..<lastHappened where hops[index].status == .missing { hops[index].status = .unseen }
        }
        // hops only the NC's DEBUG layout shows, or an NC that was not read, are no finding
        for index in hops.indices where hops[index].status == .missing {
            let hop = hops[index].hop
            if (hop.debugOnly && !ncDebug) || (hop.loggedBy == "NC" && !ncLogsRead) { hops[index].status = .unseen }
        }
        let problem = Causes.diagnose(kind: kind, hops: hops, facts: facts, ncDebug: ncDebug)
        return OperationTrace(kind: kind, start: start, hops: hops, problem: problem, facts: facts, inferred: false)
    }

    /// Each distinct line once, at most six, and the last one when it repeats (a lap every 10 s
    /// shows as its first and last line, not twenty).
    static func firstFew(_ evidence: [Evidence]) -> [Evidence] {
        var seen = Set<String>()
        var out: [Evidence] = []
        for item in evidence where seen.insert(item.text).inserted && out.count < 6 { out.append(item) }
        if let last = evidence.last, last != out.last, evidence.count > out.count { out.append(last) }
        return out
    }

    static func firstAndLast(_ evidence: [Evidence]) -> [Evidence] {
        guard evidence.count > 2 else { return evidence }
        return [evidence[0], evidence[evidence.count - 1]]
    }
}
