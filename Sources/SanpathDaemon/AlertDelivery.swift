import Foundation
import Logging
import SanpathCore
import SanpathHealth
import SanpathSystem
import ServiceLifecycle
import Synchronization

/// Carries alert events out of the process: the engine's `AlertDispatcher`, and the service
/// that delivers from the outbox.
///
/// `dispatch` writes the events for every sink into the outbox, and the firing set into the
/// alert-state table, in one transaction, then wakes the delivery loops. `run` runs one loop per
/// sink: oldest pending entry first (a loop that has caught up takes what `dispatch` just wrote
/// straight from memory, without reading it back: the alert's fast path); on failure the entry waits (1 s doubling to 5 min, with
/// jitter) and the sink's later entries wait behind it, so a sink sees events in order. Delivered
/// entries are pruned after the retention period. Graceful shutdown stops the loops; what was not
/// delivered stays pending and goes out after the next start.
public final class AlertDelivery: Service, AlertDispatcher {
    /// Timing of the delivery loops.
    public struct Configuration: Sendable {
        /// Delay between attempts of a failing entry.
        public var backoff: Backoff
        /// How long delivered entries are kept.
        public var retention: Duration
        /// How often old entries are pruned.
        public var pruneInterval: Duration

        /// The defaults: 1 s doubling to 5 min; keep a week; prune hourly.
        public init(backoff: Backoff = Backoff(), retention: Duration = .seconds(7 * 86_400), pruneInterval: Duration = .seconds(3_600)) {
            self.backoff = backoff
            self.retention = retention
            self.pruneInterval = pruneInterval
        }
    }

    /// The sinks, in the order given (a second sink of the same name is dropped).
    public let sinks: [any AlertSink]
    /// The outbox.
    public let outbox: Outbox

    private let configuration: Configuration
    private let logger: Logger
    private let wakeups: [String: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)]
    /// Per sink, the entries `publish` just wrote, for a loop that has caught up with the outbox.
    private let fresh = Mutex<[String: [OutboxEntry]]>([:])

    /// Delivery from `database`'s outbox to `sinks`.
    public init(database: StateDatabase, sinks: [any AlertSink], configuration: Configuration = Configuration(), logger: Logger) {
        var seen = Set<String>()
        self.sinks = sinks.filter { seen.insert($0.name).inserted }
        self.outbox = Outbox(database: database)
        self.configuration = configuration
        self.logger = logger
        var wakeups: [String: (AsyncStream<Void>, AsyncStream<Void>.Continuation)] = [:]
        for sink in self.sinks {
            wakeups[sink.name] = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        }
        self.wakeups = wakeups
    }

    /// Hands events over; returns once they are in the outbox. Should the database fail, the
    /// events are delivered once, directly, so that they are not lost without a word.
    public func dispatch(_ events: [AlertEvent]) async {
        guard !events.isEmpty else { return }
        do {
            try await publish(events)
        } catch {
            logger.error(
                "cannot write alerts to the outbox; delivering them once without it",
                metadata: ["error": "\(error)", "alerts": .array(events.map { .string($0.id) })])
            for sink in sinks {
                for event in events {
                    do {
                        try await sink.deliver(event)
                    } catch {
                        logger.error("direct delivery failed", metadata: ["sink": "\(sink.name)", "alert_id": "\(event.id)", "error": "\(error)"])
                    }
                }
            }
        }
    }

    /// Writes events to the outbox (with the alert state) and wakes the loops; throws when the
    /// database cannot take them.
    public func publish(_ events: [AlertEvent]) async throws(SanpathError) {
        let changes = try AlertStateChanges.tracking(events)
        let entries = try await outbox.enqueueEntries(events, for: sinks.map(\.name), state: changes)
        let written = MonotonicClock.now()
        fresh.withLock { fresh in
            for entry in entries { fresh[entry.sink, default: []].append(entry) }
        }
        for wakeup in wakeups.values { wakeup.continuation.yield() }
        // after the sinks were woken: the line is not on the alert's way
        for event in events {
            logger.debug("alert written", metadata: ["alert_id": "\(event.id)", "written_mono": "\(MonitorEngine.stamp(written))"])
        }
    }

    /// Per sink: pending and kept entries and the oldest pending entry's last error.
    public func summary() async throws(SanpathError) -> [OutboxSinkSummary] {
        try await outbox.summary()
    }

    /// Delivers until graceful shutdown or cancellation.
    public func run() async throws {
        // a restart may have been made to fix a sink: try pending entries at once
        try await outbox.clearBackoff()
        let pending = try await outbox.pending()
        if !pending.isEmpty {
            logger.info("alerts left pending by the last run will be delivered", metadata: ["count": "\(pending.count)"])
        }
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for sink in self.sinks {
                    group.addTask { await self.deliverLoop(sink) }
                }
                group.addTask { await self.pruneLoop() }
                await group.waitForAll()
            }
        }
    }

    private func deliverLoop(_ sink: any AlertSink) async {
        guard var wakeup = wakeups[sink.name]?.stream.makeAsyncIterator() else { return }
        var logger = self.logger
        logger[metadataKey: "sink"] = "\(sink.name)"
        // caught up: the outbox had nothing pending for this sink and nothing failed since, so
        // what `publish` hands over in memory is exactly what is pending, in order
        var caughtUp = false
        var lastDelivered: Int64 = 0
        while !Task.isCancelled {
            var entry: OutboxEntry?
            let handed = fresh.withLock { fresh in
                let entries = (fresh[sink.name] ?? []).filter { $0.id > lastDelivered }
                fresh[sink.name] = caughtUp ? Array(entries.dropFirst()) : []
                return caughtUp ? entries.first : nil
            }
            do {
                if let handed {
                    entry = handed
                } else {
                    entry = try await outbox.nextPending(for: sink.name)
                    if entry == nil { caughtUp = true }
                }
            } catch {
                logger.error("cannot read the outbox", metadata: ["error": "\(error)"])
                guard await pause(configuration.backoff.maximum / 10) else { return }
                continue
            }
            guard let entry else {
                // nothing pending: wait until something is enqueued (nil: shutting down)
                guard await wakeup.next() != nil else { return }
                continue
            }
            if let retryAt = entry.nextAttemptAt, retryAt > Date() {
                guard await pause(.milliseconds(Int64(retryAt.timeIntervalSinceNow * 1000) + 1)) else { return }
                continue
            }
            let handedAt = MonotonicClock.now()
            do {
                try await sink.deliver(entry.event)
            } catch {
                // shutdown cut the attempt short: not the sink's fault, and the entry stays pending
                if Task.isCancelled { return }
                caughtUp = false
                let failures = entry.attempts + 1
                let delay = configuration.backoff.delay(afterFailures: failures)
                logger.warning(
                    "alert delivery failed; will retry",
                    metadata: [
                        "alert_id": "\(entry.event.id)", "attempt": "\(failures)", "retry_in_s": "\(delay.seconds)", "error": "\(error)",
                    ])
                do {
                    try await outbox.recordFailure(entry.id, error: "\(error)", retryAt: Date().addingTimeInterval(delay.seconds))
                } catch {
                    logger.error("cannot record the failed attempt", metadata: ["error": "\(error)"])
                    guard await pause(delay) else { return }
                }
                continue
            }
            let deliveredAt = MonotonicClock.now()
            do {
                // bookkeeping finishes even when shutdown cancels the loop right now: a delivered
                // entry left pending would go out once more after the restart
                let id = entry.id
                lastDelivered = id
                try await Task { [outbox] in try await outbox.markDelivered(id) }.value
                logger.debug(
                    "alert delivered",
                    metadata: [
                        "alert_id": "\(entry.event.id)", "attempts": "\(entry.attempts + 1)", "handed_mono": "\(MonitorEngine.stamp(handedAt))",
                        "delivered_mono": "\(MonitorEngine.stamp(deliveredAt))",
                    ])
            } catch {
                // it will be delivered again: at least once, never lost
                logger.error("cannot mark an alert delivered", metadata: ["alert_id": "\(entry.event.id)", "error": "\(error)"])
                caughtUp = false
                guard await pause(configuration.backoff.maximum / 10) else { return }
            }
        }
    }

    private func pruneLoop() async {
        let keep = Set(sinks.map(\.name))
        repeat {
            do {
                let removed = try await outbox.prune(before: Date().addingTimeInterval(-configuration.retention.seconds), keepingSinks: keep)
                if removed > 0 { logger.info("pruned old outbox entries", metadata: ["count": "\(removed)"]) }
            } catch {
                logger.error("cannot prune the outbox", metadata: ["error": "\(error)"])
            }
        } while await pause(configuration.pruneInterval)
    }

    /// Sleeps; false when cancelled.
    private func pause(_ duration: Duration) async -> Bool {
        do {
            try await Task.sleep(for: duration)
            return true
        } catch {
            return false
        }
    }
}
