import Foundation

/// When an alert fires and resolves.
public struct AlertPolicy: Sendable, Hashable, Codable {
    /// How long a condition must last before it fires, per alert kind (missing: `defaultFor`).
    public var forDuration: [String: Double]
    /// `for` of kinds not listed: 0, a lost path is news at once.
    public var defaultFor: Double
    /// How long a condition must be gone before a firing alert resolves.
    public var resolveHold: Double
    /// Flap damping: this many fire/resolve transitions within `flapWindow` seconds …
    public var flapTransitions: Int
    /// … make the alert hold firing until the condition has been gone for `flapHold` seconds.
    public var flapWindow: Double
    /// How long a flapping alert must be quiet before it resolves.
    public var flapHold: Double

    /// The defaults: paths fire at once; SAN host trouble after 30 s; a path that fails and
    /// comes back three times in ten minutes stays firing until it has been fine for five.
    public init(
        forDuration: [String: Double] = [
            "san-host-unreachable": 30, "all-san-hosts-unreachable": 30, "san-host-failover": 30, "config-drift": 60,
            "single-nic": 60, "single-portal": 60, "map-degraded": 10, "map-too-many-paths": 30,
        ],
        defaultFor: Double = 0, resolveHold: Double = 0, flapTransitions: Int = 4, flapWindow: Double = 600, flapHold: Double = 300
    ) {
        self.forDuration = forDuration
        self.defaultFor = defaultFor
        self.resolveHold = resolveHold
        self.flapTransitions = flapTransitions
        self.flapWindow = flapWindow
        self.flapHold = flapHold
    }

    func forDuration(of kind: String) -> Double { forDuration[kind] ?? defaultFor }
}

/// The alert state machine: pure values in, events out, in the style of async-http-client's
/// connection state machines. The caller feeds it the current candidates and the time; it returns
/// the transitions to deliver. It does no I/O and reads no clock.
public struct AlertStateMachine: Sendable {
    /// Where one alert is.
    public enum State: Sendable, Hashable {
        /// Seen, waiting for its `for` duration.
        case pending(since: Double, candidate: AlertCandidate)
        /// Delivered as firing.
        case firing(Firing)
        /// Gone, waiting out the resolve hold (or the flap hold).
        case resolving(Firing, since: Double)
    }

    /// A firing alert's identity and content.
    public struct Firing: Sendable, Hashable, Codable {
        /// The latest content.
        public var candidate: AlertCandidate
        /// Wall time it started firing.
        public var startedAt: Date
        /// Monotonic time it started firing.
        public var startedMonotonic: Double
        /// Whether flap damping holds it.
        public var flapping: Bool

        /// Creates a firing alert (the daemon restores these from its state database).
        public init(candidate: AlertCandidate, startedAt: Date, startedMonotonic: Double, flapping: Bool) {
            self.candidate = candidate
            self.startedAt = startedAt
            self.startedMonotonic = startedMonotonic
            self.flapping = flapping
        }
    }

    /// The policy in force (replaced on reload).
    public var policy: AlertPolicy
    /// Every alert that is pending, firing or resolving, by key.
    public private(set) var alerts: [String: State] = [:]
    /// Monotonic times of each alert's recent transitions, for flap damping.
    public private(set) var transitions: [String: [Double]] = [:]
    /// The millisecond each key last fired at: an event's id holds it, so a key that fires again
    /// within the same millisecond (a flap faster than the clock's step) starts a millisecond later.
    private var lastStart: [String: Int] = [:]

    /// Creates the machine; `restored` are alerts that were firing when the daemon stopped.
    public init(policy: AlertPolicy = AlertPolicy(), restored: [Firing] = []) {
        self.policy = policy
        for firing in restored {
            alerts[firing.candidate.key] = .firing(firing)
            lastStart[firing.candidate.key] = Self.milliseconds(firing.startedAt)
        }
    }

    /// The alerts firing now (including those waiting out a hold).
    public var firing: [Firing] {
        alerts.values.compactMap {
            switch $0 {
            case .firing(let f), .resolving(let f, _): f
            case .pending: nil
            }
        }.sorted { $0.candidate.key < $1.candidate.key }
    }

    /// Feeds the current candidates; returns the events to deliver, in a stable order.
    public mutating func evaluate(_ candidates: [AlertCandidate], monotonic now: Double, wall: Date) -> [AlertEvent] {
        var events: [AlertEvent] = []
        let present = Dictionary(candidates.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        // present conditions
        for (key, candidate) in present.sorted(by: { $0.key < $1.key }) {
            switch alerts[key] {
            case nil:
                if policy.forDuration(of: candidate.kind) <= 0 {
                    events.append(fire(candidate, now: now, wall: wall))
                } else {
                    alerts[key] = .pending(since: now, candidate: candidate)
                }
            case .pending(let since, _):
                if now - since >= policy.forDuration(of: candidate.kind) {
                    events.append(fire(candidate, now: now, wall: wall))
                } else {
                    alerts[key] = .pending(since: since, candidate: candidate)
                }
            case .firing(var firing):
                let escalated = candidate.severity > firing.candidate.severity
                firing.candidate = candidate
                alerts[key] = .firing(firing)
                // a map just lost its last path: say so, the alert is now critical
                if escalated { events.append(AlertStateMachine.event(firing, state: .firing, time: wall, escalated: true)) }
            case .resolving(var firing, _):
                // back before the hold ran out: still the same alert, no event
                firing.candidate = candidate
                alerts[key] = .firing(firing)
            }
        }
        // conditions that are gone
        for (key, state) in alerts.sorted(by: { $0.key < $1.key }) where present[key] == nil {
            switch state {
            case .pending:
                alerts[key] = nil
            case .firing(var firing):
                firing.flapping = isFlapping(key, now: now)
                let hold = firing.flapping ? policy.flapHold : policy.resolveHold
                if hold <= 0 {
                    events.append(resolve(firing, now: now, wall: wall))
                } else {
                    alerts[key] = .resolving(firing, since: now)
                }
            case .resolving(let firing, let since):
                let hold = firing.flapping ? policy.flapHold : policy.resolveHold
                if now - since >= hold { events.append(resolve(firing, now: now, wall: wall)) }
            }
        }
        return events
    }

    /// When the next hold or `for` runs out, so the caller can re-evaluate then without an event.
    public func nextDeadline() -> Double? {
        alerts.values.compactMap { state -> Double? in
            switch state {
            case .pending(let since, let candidate): since + policy.forDuration(of: candidate.kind)
            case .resolving(let firing, let since): since + (firing.flapping ? policy.flapHold : policy.resolveHold)
            case .firing: nil
            }
        }.min()
    }

    mutating func record(_ key: String, _ now: Double) {
        var times = transitions[key, default: []].filter { now - $0 <= policy.flapWindow }
        times.append(now)
        transitions[key] = times
    }

    func isFlapping(_ key: String, now: Double) -> Bool {
        // the resolve about to happen counts as a transition too
        transitions[key, default: []].filter { now - $0 <= policy.flapWindow }.count + 1 >= policy.flapTransitions
    }

    mutating func fire(_ candidate: AlertCandidate, now: Double, wall: Date) -> AlertEvent {
        record(candidate.key, now)
        var start = wall
        if let last = lastStart[candidate.key], Self.milliseconds(start) <= last {
            start = Date(timeIntervalSince1970: Double(last + 1) / 1000)
        }
        lastStart[candidate.key] = Self.milliseconds(start)
        let firing = Firing(candidate: candidate, startedAt: start, startedMonotonic: now, flapping: false)
        alerts[candidate.key] = .firing(firing)
        return AlertStateMachine.event(firing, state: .firing, time: wall)
    }

    mutating func resolve(_ firing: Firing, now: Double, wall: Date) -> AlertEvent {
        record(firing.candidate.key, now)
        alerts[firing.candidate.key] = nil
        return AlertStateMachine.event(firing, state: .resolved, time: wall)
    }

    /// A time as an event id holds it: milliseconds since 1970.
    static func milliseconds(_ time: Date) -> Int { Int((time.timeIntervalSince1970 * 1000).rounded()) }

    static func event(_ firing: Firing, state: AlertEvent.State, time: Date, escalated: Bool = false) -> AlertEvent {
        let start = milliseconds(firing.startedAt)
        var summary = firing.candidate.summary
        let suffix = escalated ? "/escalated-\(firing.candidate.severity.rawValue)" : ""
        if state == .resolved {
            summary = "resolved: " + summary
            if firing.flapping { summary += " (was flapping)" }
        }
        return AlertEvent(
            id: "\(firing.candidate.key)@\(start)/\(state.rawValue)\(suffix)", alertKey: firing.candidate.key, time: time, state: state,
            kind: firing.candidate.kind, severity: firing.candidate.severity, summary: summary, maps: firing.candidate.maps,
            paths: firing.candidate.paths, startedAt: firing.startedAt)
    }
}

