import Foundation
import Logging
import SanpathCore
import SanpathDaemon
import SanpathHealth
import SanpathSystem
import Synchronization
import Testing

/// A webhook receiver the test takes down and brings back; it remembers every delivery, repeats included.
final class ReceiverSink: AlertSink {
    let name = "webhook:receiver"
    let down = Mutex(true)
    private let log = Mutex<[String]>([])

    func deliver(_ event: AlertEvent) async throws {
        if down.withLock({ $0 }) { throw SanpathError(.delivery, "connection refused") }
        log.withLock { $0.append(event.id) }
    }

    var delivered: [String] { log.withLock { $0 } }
}

/// Hands events to the outbox and remembers which were handed over, in order.
final class RecordingDispatcher: AlertDispatcher {
    let next: any AlertDispatcher
    private let log = Mutex<[String]>([])

    init(_ next: any AlertDispatcher) { self.next = next }

    func dispatch(_ events: [AlertEvent]) async {
        log.withLock { $0 += events.map(\.id) }
        await next.dispatch(events)
    }

    var dispatched: [String] { log.withLock { $0 } }
}

/// Counts events and keeps none (a long run's memory is the engine's, not the test's).
final class CountingDispatcher: AlertDispatcher {
    let count = Mutex(0)
    func dispatch(_ events: [AlertEvent]) async { count.withLock { $0 += events.count } }
}

/// Resident set size of this process, from /proc.
func residentBytes() throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
    return try #require(Int(line.split(separator: " ").dropFirst().first ?? "")) * 1024
}

/// The daemon under faults, in-process with fakes: a receiver that is down, a restart in the
/// middle, a udev buffer that overflowed, and a long run of flaps.
@Suite("daemon under faults", .timeLimit(.minutes(2)), .temporaryFolders)
struct DaemonFaultTests {
    /// Every alert at once, no flap damping: each flap is a firing and a resolved event.
    static let policy = AlertPolicy(forDuration: [:], defaultFor: 0, resolveHold: 0, flapTransitions: 1_000_000)
    static let fast = AlertDelivery.Configuration(backoff: Backoff(initial: .milliseconds(2), maximum: .milliseconds(20)))

    static func flap(_ engine: MonitorEngine, _ host: ScriptedHost, fail: Bool) async {
        host.set { $0.maps[0].groups[0].paths[0].kernelState = fail ? .failed : .active }
        await engine.handle(pathEvent(fail ? "PATH_FAILED" : "PATH_REINSTATED"))
    }

    @Test("receiver down during 100 flaps, daemon restarted in the middle: every event delivered once it returns, none twice")
    func receiverDownAcrossARestart() async throws {
        let path = try temporaryFolder().appendingPathComponent("monitor.sqlite").path
        let host = ScriptedHost(labSnapshot())
        let receiver = ReceiverSink()
        var dispatched: [String] = []

        // first run: 50 flaps, then stopped while the path is down (an alert firing)
        do {
            let database = try StateDatabase(path: path)
            let delivery = AlertDelivery(database: database, sinks: [receiver], configuration: Self.fast, logger: quietLogger())
            let recorder = RecordingDispatcher(delivery)
            let engine = MonitorEngine(
                site: labSite(), policy: Self.policy, source: host, dispatcher: recorder, sanHostPort: { _ in 443 },
                logger: quietLogger())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await delivery.run() }
                await engine.fullScan()
                for round in 0..<50 {
                    await Self.flap(engine, host, fail: true)
                    if round < 49 { await Self.flap(engine, host, fail: false) }
                }
                #expect(await !engine.firingAlerts.isEmpty, "stopped with an alert firing")
                group.cancelAll()
                try await group.waitForAll()
            }
            dispatched += recorder.dispatched
        }
        #expect(receiver.delivered.isEmpty)

        // second run: the firing alert is restored (not sent again), 50 more flaps, then the receiver returns
        let database = try StateDatabase(path: path)
        let delivery = AlertDelivery(database: database, sinks: [receiver], configuration: Self.fast, logger: quietLogger())
        let recorder = RecordingDispatcher(delivery)
        let restored = try await AlertStateStore(database: database).restoredFiring(monotonicNow: MonitorEngine.monotonicNow())
        #expect(!restored.isEmpty)
        let engine = MonitorEngine(
            site: labSite(), policy: Self.policy, source: host, dispatcher: recorder, sanHostPort: { _ in 443 }, restored: restored,
            logger: quietLogger())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await delivery.run() }
            await engine.fullScan()
            for _ in 0..<50 {
                await Self.flap(engine, host, fail: false)
                await Self.flap(engine, host, fail: true)
            }
            await Self.flap(engine, host, fail: false)
            receiver.down.withLock { $0 = false }
            try await eventually { try await delivery.outbox.pending().isEmpty }
            group.cancelAll()
            try await group.waitForAll()
        }
        dispatched += recorder.dispatched
        #expect(dispatched.count >= 200, "100 flaps, a firing and a resolved event each at least")
        #expect(Set(dispatched).count == dispatched.count, "the engine sent an event twice (the restart re-fired?)")
        #expect(receiver.delivered == dispatched, "delivered \(receiver.delivered.count) of \(dispatched.count), in order, each once")
        #expect(await engine.firingAlerts.isEmpty)
    }

    @Test("udev's buffer overflowed: the next event is a full scan, and the state is the host's")
    func overflowResyncs() async throws {
        let host = ScriptedHost(labSnapshot())
        let dispatcher = RecordingDispatcher(CountingDispatcher())
        let engine = MonitorEngine(
            site: labSite(), policy: Self.policy, source: host, dispatcher: dispatcher, sanHostPort: { _ in 443 }, logger: quietLogger())
        await engine.fullScan()
        // both paths fail while the events are lost
        host.set {
            $0.maps[0].groups[0].paths[0].kernelState = .failed
            $0.maps[0].groups[0].paths[1].kernelState = .failed
        }
        let scans = host.collections.withLock { $0 }
        await engine.handle(.overflow)
        #expect(host.collections.withLock { $0 } == scans + 1)
        let snapshot = try #require(await engine.snapshot)
        #expect(snapshot.maps[0].groups[0].paths.allSatisfy { $0.kernelState == .failed })
        #expect(await !engine.firingAlerts.isEmpty, "the lost failures fire after the resync")
        #expect(await engine.stats.events["overflow"] == 1)
    }

    /// 10,000 flaps: the final state is right, and memory does not grow with them. The RSS bound
    /// is checked when this test runs alone (SANPATH_RSS_CHECK=1, `swift test --filter
    /// tenThousandFlaps`): other tests running beside it in the same process move RSS too.
    @Test("10,000 flaps: the final state is right, and memory stays flat")
    func tenThousandFlaps() async throws {
        let host = ScriptedHost(labSnapshot())
        let counter = CountingDispatcher()
        let engine = MonitorEngine(
            site: labSite(), policy: Self.policy, source: host, dispatcher: counter, sanHostPort: { _ in 443 }, logger: quietLogger())
        await engine.fullScan()
        for _ in 0..<1_000 {
            await Self.flap(engine, host, fail: true)
            await Self.flap(engine, host, fail: false)
        }
        let before = try residentBytes()
        for _ in 0..<10_000 {
            await Self.flap(engine, host, fail: true)
            await Self.flap(engine, host, fail: false)
        }
        let after = try residentBytes()
        #expect(await engine.firingAlerts.isEmpty)
        #expect(await engine.findings.isEmpty)
        #expect(counter.count.withLock { $0 } >= 2 * 11_000)
        let grown = after - before
        print("10,000 flaps: RSS \(before / 1024) KiB -> \(after / 1024) KiB (\(grown / 1024) KiB), \(counter.count.withLock { $0 }) events")
        if ProcessInfo.processInfo.environment["SANPATH_RSS_CHECK"] == "1" {
            #expect(grown < 2 << 20, "RSS grew \(grown / 1024) KiB over 10,000 flaps")
        }
    }
}
