import Foundation
import SanpathDaemon
import Testing

@Suite("health and liveness")
struct MonitorHealthTests {
    static let start = Date(timeIntervalSince1970: 1_780_000_000)
    let rules = MonitorHealth(startedAt: start, resyncInterval: .seconds(10))

    @Test(
        "/healthz",
        arguments: [
            (nil as Double?, nil as String?, 5.0, HealthState.unhealthy("no full scan yet")),
            (3, nil, 5, .healthy),
            (3, nil, 63, .healthy),
            (3, nil, 64, .unhealthy("no full scan for 61 s (one is due every 10s)")),
            (3, "multipathd: connect: Connection refused", 5, .unhealthy("the last full scan failed: multipathd: connect: Connection refused")),
        ])
    func health(lastScan: Double?, lastError: String?, now: Double, expected: HealthState) {
        let state = rules.health(
            lastFullScan: lastScan.map { Self.start.addingTimeInterval($0) }, lastError: lastError, now: Self.start.addingTimeInterval(now))
        #expect(state == expected)
    }

    @Test(
        "the watchdog's liveness",
        arguments: [
            (nil as Double?, 30.0, true),  // first scan still running, within the grace
            (nil, 91, false),  // first scan never finished
            (100, 150, true),
            (100, 161, false),  // scans stopped finishing: stuck
        ])
    func alive(lastScan: Double?, now: Double, expected: Bool) {
        #expect(rules.isAlive(lastFullScan: lastScan.map { Self.start.addingTimeInterval($0) }, now: Self.start.addingTimeInterval(now)) == expected)
    }

    @Test("a long resync interval stretches the staleness limit")
    func staleness() {
        #expect(MonitorHealth(startedAt: Self.start, resyncInterval: .seconds(10)).staleAfter == .seconds(60))
        #expect(MonitorHealth(startedAt: Self.start, resyncInterval: .seconds(60)).staleAfter == .seconds(180))
    }
}
