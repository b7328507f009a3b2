import Foundation

/// Whether the daemon is healthy (/healthz) and alive (the systemd watchdog), from when its
/// full scans finished. Both are pure: the caller passes the engine's last scan and the time.
public struct MonitorHealth: Sendable, Hashable {
    /// When the daemon started.
    public var startedAt: Date
    /// The configured resync interval: a full scan is due this often.
    public var resyncInterval: Duration
    /// How long the first full scan may take before the daemon counts as stuck.
    public var startupGrace: Duration

    /// Health rules for a daemon started at `startedAt`.
    public init(startedAt: Date, resyncInterval: Duration, startupGrace: Duration = .seconds(90)) {
        self.startedAt = startedAt
        self.resyncInterval = resyncInterval
        self.startupGrace = startupGrace
    }

    /// How old the last full scan may be: three resync intervals, and never less than a minute
    /// (one slow scan of a big host is not a hang).
    public var staleAfter: Duration { max(resyncInterval * 3, .seconds(60)) }

    /// /healthz: unhealthy before the first full scan, when the last scan failed, and when no
    /// scan finished for `staleAfter`.
    public func health(lastFullScan: Date?, lastError: String?, now: Date = Date()) -> HealthState {
        guard let lastFullScan else { return .unhealthy("no full scan yet") }
        if let lastError { return .unhealthy("the last full scan failed: \(lastError)") }
        let age = now.timeIntervalSince(lastFullScan)
        if age > staleAfter.seconds {
            return .unhealthy("no full scan for \(Int(age)) s (one is due every \(resyncInterval.configText))")
        }
        return .healthy
    }

    /// The watchdog: alive while scans keep finishing (failed or not), and during the start-up
    /// grace before the first one. A scan stuck in a collector stops the pings, and systemd
    /// restarts the daemon.
    public func isAlive(lastFullScan: Date?, now: Date = Date()) -> Bool {
        guard let lastFullScan else { return now.timeIntervalSince(startedAt) <= startupGrace.seconds }
        return now.timeIntervalSince(lastFullScan) <= staleAfter.seconds
    }
}
