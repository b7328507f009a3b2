import Foundation
import Logging
import SanpathHealth
import SanpathHost
import SanpathSite
import SanpathSystem

/// Where snapshots come from: the collectors in production, captured snapshots in tests.
public protocol SnapshotSource: Sendable {
    /// A full collection: every map, disk, session, iface file and NIC.
    func collect() async throws -> Snapshot
    /// The snapshot with one map re-read (dm status, its disks, their sessions, the NICs):
    /// the fast path for a dm path event.
    func refresh(map name: String, in snapshot: Snapshot) async throws -> Snapshot
    /// multipathd's checker states, asked on their own schedule; nil: this source has none.
    func multipathdView() async -> MultipathdView?
}

extension SnapshotSource {
    /// No multipathd.
    public func multipathdView() async -> MultipathdView? { nil }
}

/// Where alert events go: the outbox in production.
public protocol AlertDispatcher: Sendable {
    /// Hands events over for delivery; returns once they are durable.
    func dispatch(_ events: [AlertEvent]) async
}

/// The monitor's brain: keeps the latest snapshot, turns it into findings and alerts, and hands
/// alert events to the dispatcher. Collectors feed it (udev events, resync timer, probes); the
/// HTTP endpoints read it. All state changes go through this actor.
public actor MonitorEngine {
    /// Counters for /metrics.
    public struct Stats: Sendable, Hashable {
        /// Full scans done.
        public var fullScans = 0
        /// Map refreshes done on the event fast path.
        public var mapRefreshes = 0
        /// udev events seen, by kind (`path-failed`, `path-reinstated`, `add`, `remove`, `change`, `overflow`).
        public var events: [String: Int] = [:]
        /// Seconds the last full scan took.
        public var lastScanDuration: Double = 0
        /// Evaluations that computed findings and alert candidates.
        public var evaluations = 0
        /// Evaluations that reused the last ones: nothing a finding reads had changed.
        public var reusedEvaluations = 0
        /// When the last full scan finished.
        public var lastFullScan: Date?
        /// The last collection error, if the last scan failed.
        public var lastError: String?
    }

    /// The health model (site).
    public private(set) var model: HealthModel
    /// The latest snapshot (nil before the first scan).
    public private(set) var snapshot: Snapshot?
    /// Findings of the latest snapshot.
    public private(set) var findings: [Finding] = []
    /// Counters.
    public private(set) var stats = Stats()

    private var machine: AlertStateMachine
    private let source: any SnapshotSource
    private let dispatcher: any AlertDispatcher
    private let logger: Logger
    private let monotonic: @Sendable () -> Double
    private var sanHosts: [SANHostState]
    private var portalProbes: [String: PortalProbe] = [:]
    private var scanScheduled = false
    /// Counts fast-path map refreshes and full scans, so that neither installs a snapshot older
    /// than the other's: both await their collection, and the actor runs the other meanwhile.
    private var refreshCount = 0
    private var lastRefreshOf: [String: Int] = [:]
    private var scanCount = 0
    private var firstScanWaiters: [CheckedContinuation<Void, Never>] = []
    /// multipathd's latest answer, put into every snapshot (nil until asked).
    private var multipathd: MultipathdView?
    /// The drift check's latest answer, put into every snapshot (nil until asked).
    private var driftedFiles: [String]?
    /// The state machine deadline a tick is scheduled for (CLOCK_MONOTONIC seconds).
    private var scheduledTick: Double?
    /// The last evaluation's input and alert candidates: most evaluations of an idle host (every
    /// probe, scan and multipathd answer) see the same snapshot, and reuse them.
    private var lastEvaluation: (input: EvaluationInput, candidates: [AlertCandidate])?

    /// Creates the engine. `restored` are the alerts that were firing when the daemon stopped.
    public init(
        site: Site, policy: AlertPolicy, source: any SnapshotSource, dispatcher: any AlertDispatcher,
        sanHostPort: @escaping @Sendable (SANHost) -> Int, restored: [AlertStateMachine.Firing] = [], logger: Logger,
        monotonic: @escaping @Sendable () -> Double = MonitorEngine.monotonicNow
    ) {
        self.model = HealthModel(site: site, portalAddresses: AddressResolver.addresses(ofNames: site.paths.map(\.portal.host)))
        self.machine = AlertStateMachine(policy: policy, restored: restored)
        self.source = source
        self.dispatcher = dispatcher
        self.logger = logger
        self.monotonic = monotonic
        self.sanHosts = site.sanHostsInEucalyptusOrder.map { SANHostState(host: $0.host, port: $0.port ?? sanHostPort($0)) }
    }

    /// CLOCK_MONOTONIC in seconds (the clock `udevadm monitor` stamps events with).
    public static let monotonicNow: @Sendable () -> Double = { MonotonicClock.now() }

    /// The alerts firing now, as firing events (for /status and /metrics).
    public var firingAlerts: [AlertEvent] {
        machine.firing.map {
            AlertEvent(
                id: $0.candidate.key, alertKey: $0.candidate.key, time: $0.startedAt, state: .firing, kind: $0.candidate.kind,
                severity: $0.candidate.severity, summary: $0.candidate.summary, maps: $0.candidate.maps,
                paths: $0.candidate.paths, startedAt: $0.startedAt)
        }
    }

    /// What must be persisted so a restart neither re-fires nor forgets.
    public var firingState: [AlertStateMachine.Firing] { machine.firing }

    /// The SAN hosts to probe, in Eucalyptus' order.
    public var sanHostTargets: [(host: String, port: Int)] { sanHosts.map { ($0.host, $0.port) } }

    /// Returns once the first full scan has finished (for READY=1).
    public func waitForFirstScan() async {
        if stats.lastFullScan != nil { return }
        await withCheckedContinuation { firstScanWaiters.append($0) }
    }

    /// Collects everything and evaluates.
    @discardableResult
    public func fullScan() async -> Snapshot? {
        let start = monotonic()
        let cpu = MonotonicClock.processCPU()
        do {
            let refreshesBefore = refreshCount
            var fresh = try await source.collect()
            // a map an event refreshed while this scan ran may be older in the scan: read it again
            var seen = refreshesBefore
            while true {
                let newer = lastRefreshOf.filter { $0.value > seen }.keys.sorted()
                if newer.isEmpty { break }
                seen = refreshCount
                for name in newer { fresh = try await source.refresh(map: name, in: fresh) }
            }
            scanCount += 1
            multipathd?.apply(to: &fresh)
            fresh.sanHosts = sanHosts
            fresh.portalProbes = portalProbes.values.sorted { $0.portal < $1.portal }
            fresh.driftedFiles = driftedFiles
            snapshot = fresh
            stats.lastError = nil
        } catch {
            stats.lastError = "\(error)"
            logger.error("full scan failed", metadata: ["error": "\(error)"])
        }
        stats.fullScans += 1
        stats.lastScanDuration = monotonic() - start
        stats.lastFullScan = Date()
        for waiter in firstScanWaiters { waiter.resume() }
        firstScanWaiters = []
        let heap = ProcessHeap.kilobytes()
        logger.debug(
            "full scan",
            metadata: [
                "ms": "\(Self.milliseconds(stats.lastScanDuration))", "cpu_ms": "\(Self.milliseconds(MonotonicClock.processCPU() - cpu))",
                "maps": "\(snapshot?.maps.count ?? 0)", "heap_kb": "\(heap.inUse)", "heap_free_kb": "\(heap.keptFree)",
            ])
        await evaluate("full scan")
        return snapshot
    }

    /// Handles one udev item: a dm path event refreshes that map at once; disks and maps
    /// coming and going, and lost events, schedule a full scan.
    public func handle(_ item: UdevStreamItem) async {
        switch item {
        case .overflow:
            stats.events["overflow", default: 0] += 1
            logger.warning("udev events were lost (ENOBUFS): full resync")
            await fullScan()
        case .event(let event):
            if let action = event.properties["DM_ACTION"], let name = event.properties["DM_NAME"] {
                stats.events[action == "PATH_FAILED" ? "path-failed" : action == "PATH_REINSTATED" ? "path-reinstated" : action.lowercased(), default: 0] += 1
                logger.info(
                    "dm path event",
                    metadata: ["map": "\(name)", "action": "\(action)", "path": "\(event.properties["DM_PATH"] ?? "?")",
                        "valid": "\(event.properties["DM_NR_VALID_PATHS"] ?? "?")",
                        "received_mono": "\(Self.stamp(event.receivedMonotonic))"])
                await refresh(map: name, received: event.receivedMonotonic)
                return
            }
            stats.events[event.action, default: 0] += 1
            if event.action == "add" || event.action == "remove" || event.sysname.hasPrefix("dm-") {
                scheduleFullScan()
            }
        }
    }

    /// Re-reads one map and evaluates; falls back to a full scan when it is unknown. `received`
    /// is when the event that asked for it arrived (CLOCK_MONOTONIC), for the alert timing lines.
    public func refresh(map name: String, received: Double? = nil) async {
        guard let current = snapshot, current.maps.contains(where: { $0.name == name }) else {
            await fullScan()
            return
        }
        do {
            var scansSeen = scanCount
            var refreshed = try await source.refresh(map: name, in: current)
            // a full scan finished meanwhile: refresh the map in its newer snapshot instead
            while scanCount != scansSeen, let latest = snapshot {
                scansSeen = scanCount
                refreshed = try await source.refresh(map: name, in: latest)
            }
            snapshot = refreshed
            refreshCount += 1
            lastRefreshOf[name] = refreshCount
            stats.mapRefreshes += 1
        } catch {
            logger.warning("map refresh failed, full scan", metadata: ["map": "\(name)", "error": "\(error)"])
            await fullScan()
            return
        }
        await evaluate("dm path event", received: received)
    }

    /// Coalesces bursts (a login of 64 LUNs makes hundreds of events) into one scan.
    private func scheduleFullScan() {
        guard !scanScheduled else { return }
        scanScheduled = true
        Task {
            try? await Task.sleep(for: .milliseconds(250))
            await self.runScheduledScan()
        }
    }

    private func runScheduledScan() async {
        scanScheduled = false
        await fullScan()
    }

    /// Asks multipathd for its checker states (`show maps json`) and evaluates with them.
    public func refreshMultipathd() async {
        let asked = monotonic()
        let cpu = MonotonicClock.processCPU()
        guard let view = await source.multipathdView() else { return }
        logger.debug(
            "multipathd asked",
            metadata: [
                "ms": "\(Self.milliseconds(monotonic() - asked))", "cpu_ms": "\(Self.milliseconds(MonotonicClock.processCPU() - cpu))",
                "running": "\(view.running.map(String.init) ?? "unknown")",
            ])
        if view.running != multipathd?.running {
            if view.running == false {
                logger.warning("multipathd does not answer on its socket; path checker states unknown until it does")
            } else if multipathd != nil, view.running == true {
                logger.info("multipathd answers again")
            }
        }
        multipathd = view
        guard snapshot != nil else { return }
        view.apply(to: &snapshot!)
        await evaluate("multipathd")
    }

    /// Records a SAN management host probe (connect time, or nil when it failed) and evaluates,
    /// unless only the connect time changed: no finding reads it (and deadlines have their own tick).
    public func recordSANProbe(host: String, latency: Double?) async {
        guard let index = sanHosts.firstIndex(where: { $0.host == host }) else { return }
        let before = sanHosts[index]
        sanHosts[index].record(latency: latency, at: Date())
        snapshot?.sanHosts = sanHosts
        guard sanHosts[index].withoutLatency != before.withoutLatency else { return }
        await evaluate("SAN host probe")
    }

    /// Records a portal probe through a NIC and evaluates.
    /// A probe that starts failing re-reads everything at once: the NIC it leaves by may be down,
    /// and the NIC's alert must come before the probe's own (NICs send no block event).
    /// Unless only the connect time changed, as for SAN hosts.
    public func recordPortalProbe(portal: String, nic: String, latency: Double?) async {
        let before = portalProbes[portal]
        var probe = before ?? PortalProbe(portal: portal, nic: nic, reachable: true)
        let wasReachable = probe.reachable
        probe.record(latency: latency)
        portalProbes[portal] = probe
        if wasReachable, !probe.reachable {
            await fullScan()
            return
        }
        snapshot?.portalProbes = portalProbes.values.sorted { $0.portal < $1.portal }
        guard probe.withoutLatency != before?.withoutLatency else { return }
        await evaluate("portal probe")
    }

    /// Files that differ from the profile (config drift), from a periodic plan.
    public func recordDrift(_ files: [String]?) async {
        driftedFiles = files
        snapshot?.driftedFiles = files
        await evaluate("drift check")
    }

    /// Re-evaluates without new data: `for` durations and holds run out with time alone.
    public func tick() async { await evaluate("timer") }

    /// Makes sure a tick comes when the state machine's next deadline (a `for`, a hold) is due:
    /// the next resync may be a minute away, and no probe or event need come meanwhile.
    private func scheduleTick() {
        guard let deadline = machine.nextDeadline() else { return }
        if let scheduled = scheduledTick, scheduled <= deadline { return }
        scheduledTick = deadline
        let delay = max(0, deadline - monotonic())
        Task {
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000) + 10))
            await self.runScheduledTick(deadline)
        }
    }

    private func runScheduledTick(_ deadline: Double) async {
        // an earlier deadline took its place: that one's tick schedules the next
        guard scheduledTick == deadline else { return }
        scheduledTick = nil
        await tick()
    }

    /// When the state machine next needs a look without new data.
    public var nextDeadline: Double? { machine.nextDeadline() }

    /// Replaces the site and policy (SIGHUP) and evaluates.
    public func reload(site: Site, policy: AlertPolicy) async {
        model = HealthModel(site: site, portalAddresses: AddressResolver.addresses(ofNames: site.paths.map(\.portal.host)))
        machine.policy = policy
        lastEvaluation = nil
        await fullScan()
    }

    /// Findings, candidates and the state machine; `cause` and `received` (the event's arrival,
    /// CLOCK_MONOTONIC) go to the debug lines that time each evaluation and each alert.
    private func evaluate(_ cause: String, received: Double? = nil) async {
        guard let snapshot else { return }
        let start = monotonic()
        let firingCandidates = machine.firing.map(\.candidate)
        let input = EvaluationInput(snapshot, firing: firingCandidates)
        let candidates: [AlertCandidate]
        let reused: Bool
        if let last = lastEvaluation, last.input == input {
            candidates = last.candidates
            reused = true
            stats.reusedEvaluations += 1
        } else {
            findings = model.findings(snapshot)
            candidates = AlertGrouping.candidates(findings, snapshot: snapshot, model: model, firing: firingCandidates)
            lastEvaluation = (input, candidates)
            reused = false
            stats.evaluations += 1
        }
        let evaluated = monotonic()
        let events = machine.evaluate(candidates, monotonic: evaluated, wall: Date())
        scheduleTick()
        // the alerts go first: the debug lines below are written once they are handed over
        if !events.isEmpty { await dispatcher.dispatch(events) }
        guard logger.logLevel <= .debug else { return }
        logger.debug(
            "evaluated",
            metadata: [
                "cause": "\(cause)", "ms": "\(Self.milliseconds(evaluated - start))", "reused": "\(reused)", "events": "\(events.count)",
            ])
        // the log sink reports each alert; this traces its legs: event receipt, evaluation (and
        // in AlertDelivery the outbox write and each sink's hand-over), CLOCK_MONOTONIC seconds
        for event in events {
            var metadata: Logger.Metadata = [
                "alert": "\(event.alertKey)", "alert_id": "\(event.id)", "cause": "\(cause)", "evaluated_mono": "\(Self.stamp(evaluated))",
            ]
            if let received { metadata["received_mono"] = "\(Self.stamp(received))" }
            logger.debug("alert \(event.state.rawValue)", metadata: metadata)
        }
    }

    /// A CLOCK_MONOTONIC reading as the debug lines print it (microseconds, as `udevadm monitor`).
    static func stamp(_ seconds: Double) -> String { String(format: "%.6f", seconds) }

    static func milliseconds(_ seconds: Double) -> String { String(format: "%.2f", seconds * 1000) }

    /// The status report of the latest snapshot.
    public func report() -> StatusReport? {
        snapshot.map { StatusReport(model: model, snapshot: $0, findings: findings, alerts: firingAlerts) }
    }
}

/// What findings and alert candidates are a function of: the snapshot less what no finding
/// reads (probe connect times; the snapshot's time, unless a SAN host failed: Eucalyptus' 5-minute
/// memory of a failure counts from it), and the alerts firing (grouping keeps their keys).
struct EvaluationInput: Equatable {
    var snapshot: Snapshot
    var firing: [AlertCandidate]

    init(_ snapshot: Snapshot, firing: [AlertCandidate]) {
        var snapshot = snapshot
        if !snapshot.sanHosts.contains(where: { $0.lastFailure != nil }) { snapshot.time = .distantPast }
        snapshot.sanHosts = snapshot.sanHosts.map(\.withoutLatency)
        snapshot.portalProbes = snapshot.portalProbes.map(\.withoutLatency)
        self.snapshot = snapshot
        self.firing = firing
    }
}

extension SANHostState {
    /// The state less its connect time, which no finding reads.
    var withoutLatency: SANHostState {
        var state = self
        state.latency = nil
        return state
    }
}

extension PortalProbe {
    /// The probe less its connect time, which no finding reads.
    var withoutLatency: PortalProbe {
        var probe = self
        probe.latency = nil
        return probe
    }
}
