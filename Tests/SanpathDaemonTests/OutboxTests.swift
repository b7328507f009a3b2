import Foundation
import Logging
import SanpathCore
import SanpathDaemon
import SanpathHealth
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

@Suite("outbox: at least once, in order, no duplicates", .timeLimit(.minutes(1)), .temporaryFolders)
struct OutboxTests {
    let fast = AlertDelivery.Configuration(backoff: Backoff(initial: .milliseconds(2), maximum: .milliseconds(10)))

    /// Runs `delivery` while `body` runs, then stops it.
    func running(_ delivery: AlertDelivery, _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await delivery.run() }
            try await body()
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    @Test("enqueueing the same event for the same sink twice is a no-op")
    func idempotentEnqueue() async throws {
        let outbox = Outbox(database: try StateDatabase.inMemory())
        let event = AlertSamples.nicDown()
        #expect(try await outbox.enqueue([event], for: ["log", "webhook:x"]) == 2)
        #expect(try await outbox.enqueue([event], for: ["log", "webhook:x"]) == 0)
        #expect(try await outbox.enqueue([event, AlertSamples.nicDown(.resolved)], for: ["log", "webhook:x", "exec:/bin/page"]) == 4)
        let entries = try await outbox.all()
        #expect(entries.map { "\($0.sink) \($0.event.state.rawValue)" } == [
            "log firing", "webhook:x firing", "exec:/bin/page firing", "log resolved", "webhook:x resolved", "exec:/bin/page resolved",
        ])
        // the stored event is the event, to the millisecond and beyond
        #expect(entries[0].event == event)
    }

    @Test("a sink that fails three times gets the event on the fourth attempt, attempts and error recorded")
    func failsThenSucceeds() async throws {
        let sink = FlakySink(failures: 3)
        let delivery = AlertDelivery(database: try StateDatabase.inMemory(), sinks: [sink], configuration: fast, logger: quietLogger())
        try await running(delivery) {
            await delivery.dispatch([AlertSamples.nicDown()])
            try await eventually { try await delivery.outbox.pending().isEmpty }
        }
        #expect(sink.attempts == 4)
        #expect(sink.delivered == [AlertSamples.nicDown().id])
        let entry = try #require(try await delivery.outbox.all().first)
        #expect(entry.attempts == 3)
        #expect(entry.lastError?.contains("sink is down") == true)
        #expect(entry.deliveredAt != nil)
    }

    @Test("a failing sink holds back its later events, so it sees them in order; other sinks do not wait")
    func orderPerSink() async throws {
        let slow = FlakySink(name: "slow", failures: 2)
        let fine = FlakySink(name: "fine")
        let delivery = AlertDelivery(database: try StateDatabase.inMemory(), sinks: [slow, fine], configuration: fast, logger: quietLogger())
        try await running(delivery) {
            await delivery.dispatch([AlertSamples.numbered(1)])
            await delivery.dispatch([AlertSamples.numbered(2), AlertSamples.numbered(3)])
            try await eventually { slow.delivered.count == 3 && fine.delivered.count == 3 }
        }
        let ids = (1...3).map { AlertSamples.numbered($0).id }
        #expect(slow.delivered == ids)
        #expect(fine.delivered == ids)
    }

    /// A loop that has caught up takes new entries from memory, not from the database; one that
    /// failed goes back to the database. Either way: every event once, in order.
    @Test("many dispatches while a sink fails now and then: each event once, in order, for every sink")
    func interleavedDispatches() async throws {
        let flaky = FlakySink(name: "flaky", failures: 1)
        let fine = FlakySink(name: "fine")
        let delivery = AlertDelivery(database: try StateDatabase.inMemory(), sinks: [flaky, fine], configuration: fast, logger: quietLogger())
        let ids = (1...40).map { AlertSamples.numbered($0).id }
        try await running(delivery) {
            for n in 1...40 {
                await delivery.dispatch([AlertSamples.numbered(n)])
                if n == 20 { flaky.fail(times: 2) }
                if n % 7 == 0 { try await Task.sleep(for: .milliseconds(3)) }
            }
            try await eventually { flaky.delivered.count >= 40 && fine.delivered.count >= 40 }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(flaky.delivered == ids)
        #expect(fine.delivered == ids)
        #expect(try await delivery.outbox.pending().isEmpty)
    }

    @Test("dispatching the same event again delivers it once")
    func duplicateDispatch() async throws {
        let sink = FlakySink()
        let delivery = AlertDelivery(database: try StateDatabase.inMemory(), sinks: [sink], configuration: fast, logger: quietLogger())
        try await running(delivery) {
            await delivery.dispatch([AlertSamples.numbered(1)])
            await delivery.dispatch([AlertSamples.numbered(1)])
            await delivery.dispatch([AlertSamples.numbered(2)])
            // in order: once 2 is through, a second 1 would have come before it
            try await eventually { sink.delivered.contains(AlertSamples.numbered(2).id) }
        }
        #expect(sink.delivered == [AlertSamples.numbered(1).id, AlertSamples.numbered(2).id])
    }

    @Test("what a stopped daemon left pending goes out after reopening the database, and only that")
    func restart() async throws {
        let path = try temporaryFolder().appendingPathComponent("state/monitor.sqlite").path
        // first run: the sink is down the whole time
        do {
            let down = FlakySink(name: "pager", failures: 1_000)
            let delivery = AlertDelivery(database: try StateDatabase(path: path), sinks: [down], configuration: fast, logger: quietLogger())
            try await running(delivery) {
                await delivery.dispatch([AlertSamples.numbered(1), AlertSamples.numbered(2)])
                try await eventually { down.attempts >= 3 }
            }
            #expect(down.delivered.isEmpty)
        }
        // second run, database reopened: both go out, in order
        let up = FlakySink(name: "pager")
        do {
            let delivery = AlertDelivery(database: try StateDatabase(path: path), sinks: [up], configuration: fast, logger: quietLogger())
            let pending = try await delivery.outbox.pending()
            #expect(pending.map(\.event.id) == [AlertSamples.numbered(1).id, AlertSamples.numbered(2).id])
            // the first one failed again and again; the second waited behind it
            #expect(pending[0].attempts >= 2)
            #expect(pending[0].lastError?.contains("sink is down") == true)
            #expect(pending[1].attempts == 0)
            try await running(delivery) {
                try await eventually { try await delivery.outbox.pending().isEmpty }
            }
        }
        #expect(up.delivered == [AlertSamples.numbered(1).id, AlertSamples.numbered(2).id])
        // third run: nothing is delivered twice; a new event is the only one the sink gets
        let again = FlakySink(name: "pager")
        let delivery = AlertDelivery(database: try StateDatabase(path: path), sinks: [again], configuration: fast, logger: quietLogger())
        try await running(delivery) {
            await delivery.dispatch([AlertSamples.numbered(3)])
            try await eventually { !again.delivered.isEmpty }
        }
        #expect(again.delivered == [AlertSamples.numbered(3).id])
    }

    @Test("firing alerts are kept in the state table with the outbox, and survive a restart")
    func alertState() async throws {
        let path = try temporaryFolder().appendingPathComponent("monitor.sqlite").path
        do {
            let delivery = AlertDelivery(database: try StateDatabase(path: path), sinks: [FlakySink()], configuration: fast, logger: quietLogger())
            await delivery.dispatch([AlertSamples.nicDown(), AlertSamples.numbered(1)])
            await delivery.dispatch([AlertSamples.nicDown(severity: .critical, suffix: "/escalated-critical")])
            await delivery.dispatch([AlertSamples.numbered(1).resolvedCopy])
        }
        let store = AlertStateStore(database: try StateDatabase(path: path))
        let firing = try await store.firingEvents()
        #expect(firing.map(\.alertKey) == ["nic-down:eth1"])
        #expect(firing.first?.severity == .critical)
        let restored = try await store.restoredFiring(now: AlertSamples.started.addingTimeInterval(60), monotonicNow: 1_000)
        #expect(restored.count == 1)
        #expect(restored[0].candidate.key == "nic-down:eth1")
        #expect(restored[0].candidate.maps == ["mpatha", "mpathb"])
        #expect(restored[0].startedAt == AlertSamples.started)
        #expect(restored[0].startedMonotonic == 940)
        // the engine gets them back as firing: nothing fires again
        var machine = AlertStateMachine(restored: restored)
        #expect(machine.firing.map(\.candidate.key) == ["nic-down:eth1"])
        let events = machine.evaluate([restored[0].candidate], monotonic: 1_001, wall: Date())
        #expect(events.isEmpty)
    }

    @Test("the state table's own save, load and delete")
    func stateStore() async throws {
        let store = AlertStateStore(database: try StateDatabase.inMemory())
        try await store.save(Data("{\"a\":1}".utf8), for: "nic-down:eth1")
        try await store.save(Data("{\"a\":2}".utf8), for: "nic-down:eth1")
        try await store.save(Data("{}".utf8), for: "path-lost:sdb")
        #expect(try await store.load() == ["nic-down:eth1": Data("{\"a\":2}".utf8), "path-lost:sdb": Data("{}".utf8)])
        try await store.delete("nic-down:eth1")
        #expect(try await store.load().keys.sorted() == ["path-lost:sdb"])
    }

    @Test("pruning drops old delivered entries and pending ones of sinks no longer configured")
    func prune() async throws {
        let outbox = Outbox(database: try StateDatabase.inMemory())
        let old = Date(timeIntervalSince1970: 1_700_000_000)
        try await outbox.enqueue([AlertSamples.numbered(1)], for: ["log", "webhook:gone"], at: old)
        try await outbox.enqueue([AlertSamples.numbered(2)], for: ["log"], at: old)
        let entries = try await outbox.all()
        try await outbox.markDelivered(entries[0].id, at: old)
        try await outbox.enqueue([AlertSamples.numbered(3)], for: ["log"], at: old.addingTimeInterval(86_400 * 30))
        try await outbox.markDelivered(try #require(try await outbox.all().last).id, at: old.addingTimeInterval(86_400 * 30))

        let removed = try await outbox.prune(before: old.addingTimeInterval(86_400 * 7), keepingSinks: ["log"])
        #expect(removed == 2)
        let left = try await outbox.all()
        // the old pending entry of a configured sink stays: it must still be delivered
        #expect(left.map { "\($0.sink) \($0.event.id) \($0.deliveredAt == nil ? "pending" : "delivered")" } == [
            "log \(AlertSamples.numbered(2).id) pending", "log \(AlertSamples.numbered(3).id) delivered",
        ])
        let summary = try await outbox.summary()
        #expect(summary == [OutboxSinkSummary(sink: "log", pending: 1, delivered: 1, attempts: 0, lastError: nil, nextAttemptAt: nil)])
    }

    @Test("graceful shutdown stops delivery; the interrupted entry stays pending without a failed attempt")
    func gracefulShutdown() async throws {
        let delivery = AlertDelivery(database: try StateDatabase.inMemory(), sinks: [StuckSink()], configuration: fast, logger: quietLogger())
        await delivery.dispatch([AlertSamples.nicDown()])
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await delivery.run() }
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        let pending = try await delivery.outbox.pending()
        #expect(pending.count == 1)
        #expect(pending.first?.attempts == 0)
    }

    @Test(
        "backoff: 1 s doubling to 5 min, each delay between half and all of it",
        arguments: [(1, 1), (2, 2), (3, 4), (4, 8), (9, 256), (10, 300), (40, 300), (1_000, 300)])
    func backoff(failures: Int, nominalSeconds: Int64) {
        let low = Backoff(jitter: { 0 })
        let high = Backoff(jitter: { 0.999_999 })
        #expect(low.nominalDelay(afterFailures: failures) == .seconds(nominalSeconds))
        #expect(low.delay(afterFailures: failures) == .seconds(nominalSeconds) / 2)
        #expect(high.delay(afterFailures: failures) <= .seconds(nominalSeconds))
        #expect(high.delay(afterFailures: failures) > .seconds(nominalSeconds) * 0.99)
    }
}

extension AlertEvent {
    /// The resolved event of a firing one.
    var resolvedCopy: AlertEvent {
        var copy = self
        copy.id = id.replacingOccurrences(of: "/firing", with: "/resolved")
        copy.state = .resolved
        return copy
    }
}
