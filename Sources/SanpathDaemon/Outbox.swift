import Foundation
import GRDB
import SanpathCore
import SanpathHealth

/// One event waiting for (or done with) one sink.
public struct OutboxEntry: Sendable, Hashable {
    /// Row id; increasing in enqueue order.
    public var id: Int64
    /// The sink's name.
    public var sink: String
    /// The event.
    public var event: AlertEvent
    /// When it was enqueued.
    public var enqueuedAt: Date
    /// Delivery attempts that failed so far.
    public var attempts: Int
    /// When the last attempt failed.
    public var lastAttemptAt: Date?
    /// Why the last attempt failed.
    public var lastError: String?
    /// Not before this time (backoff), when set.
    public var nextAttemptAt: Date?
    /// When it was delivered; nil while pending.
    public var deliveredAt: Date?
}

/// What the outbox holds for one sink, for /status and /metrics.
public struct OutboxSinkSummary: Sendable, Hashable, Codable {
    /// The sink's name.
    public var sink: String
    /// Entries not delivered yet.
    public var pending: Int
    /// Delivered entries still kept (until the retention runs out).
    public var delivered: Int
    /// Failed attempts of the oldest pending entry.
    public var attempts: Int
    /// Why the oldest pending entry's last attempt failed.
    public var lastError: String?
    /// When the oldest pending entry will be tried again.
    public var nextAttemptAt: Date?

    /// Creates a summary.
    public init(sink: String, pending: Int, delivered: Int, attempts: Int, lastError: String?, nextAttemptAt: Date?) {
        self.sink = sink
        self.pending = pending
        self.delivered = delivered
        self.attempts = attempts
        self.lastError = lastError
        self.nextAttemptAt = nextAttemptAt
    }
}

/// The alert outbox: every event is written for every sink before anyone is told, so delivery is
/// at least once across a sink outage and a daemon restart. Enqueueing the same event (same
/// `id`) for the same sink again is a no-op. Entries are delivered per sink in enqueue order.
public struct Outbox: Sendable {
    private let database: StateDatabase

    /// The outbox in `database`.
    public init(database: StateDatabase) {
        self.database = database
    }

    /// Writes each event for each sink (existing (sink, id) pairs are left alone) and, in the
    /// same transaction, applies `state` to the alert-state table. Returns how many entries are new.
    @discardableResult
    public func enqueue(
        _ events: [AlertEvent], for sinks: [String], state: AlertStateChanges = AlertStateChanges(), at now: Date = Date()
    ) async throws(SanpathError) -> Int {
        try await enqueueEntries(events, for: sinks, state: state, at: now).count
    }

    /// `enqueue`, returning the entries it inserted (an event already in the outbox for a sink is
    /// not inserted again), in insertion order.
    public func enqueueEntries(
        _ events: [AlertEvent], for sinks: [String], state: AlertStateChanges = AlertStateChanges(), at now: Date = Date()
    ) async throws(SanpathError) -> [OutboxEntry] {
        let rows = try events.map { event throws(SanpathError) in (event, try Outbox.encode(event)) }
        return try await database.write("enqueue") { db in
            var inserted: [OutboxEntry] = []
            for (event, blob) in rows {
                for sink in sinks {
                    try db.execute(
                        sql: "INSERT OR IGNORE INTO outbox (sink, eventID, event, enqueuedAt) VALUES (?, ?, ?, ?)",
                        arguments: [sink, event.id, blob, now])
                    if db.changesCount > 0 {
                        inserted.append(OutboxEntry(id: db.lastInsertedRowID, sink: sink, event: event, enqueuedAt: now, attempts: 0))
                    }
                }
            }
            try AlertStateStore.apply(state, in: db, at: now)
            return inserted
        }
    }

    /// The oldest pending entry of a sink.
    public func nextPending(for sink: String) async throws(SanpathError) -> OutboxEntry? {
        try await database.read("read the next entry") { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM outbox WHERE sink = ? AND deliveredAt IS NULL ORDER BY id LIMIT 1", arguments: [sink]
            ).map(Outbox.entry)
        }
    }

    /// Pending entries in enqueue order: of one sink, or of all.
    public func pending(for sink: String? = nil) async throws(SanpathError) -> [OutboxEntry] {
        try await database.read("read pending entries") { db in
            if let sink {
                return try Row.fetchAll(db, sql: "SELECT * FROM outbox WHERE sink = ? AND deliveredAt IS NULL ORDER BY id", arguments: [sink])
                    .map(Outbox.entry)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM outbox WHERE deliveredAt IS NULL ORDER BY id").map(Outbox.entry)
        }
    }

    /// Every entry, delivered or not, in enqueue order (status and tests).
    public func all() async throws(SanpathError) -> [OutboxEntry] {
        try await database.read("read entries") { db in try Row.fetchAll(db, sql: "SELECT * FROM outbox ORDER BY id").map(Outbox.entry) }
    }

    /// Marks an entry delivered.
    public func markDelivered(_ id: Int64, at now: Date = Date()) async throws(SanpathError) {
        try await database.write("mark delivered") { db in
            try db.execute(sql: "UPDATE outbox SET deliveredAt = ?, nextAttemptAt = NULL WHERE id = ?", arguments: [now, id])
        }
    }

    /// Records a failed attempt and when to try again.
    public func recordFailure(_ id: Int64, error: String, at now: Date = Date(), retryAt: Date) async throws(SanpathError) {
        try await database.write("record a failed attempt") { db in
            try db.execute(
                sql: "UPDATE outbox SET attempts = attempts + 1, lastAttemptAt = ?, lastError = ?, nextAttemptAt = ? WHERE id = ?",
                arguments: [now, error, retryAt, id])
        }
    }

    /// Forgets every backoff, so pending entries are tried at once (a daemon that starts again
    /// may have been restarted to fix the sink).
    public func clearBackoff() async throws(SanpathError) {
        try await database.write("clear backoff") { db in
            try db.execute(sql: "UPDATE outbox SET nextAttemptAt = NULL WHERE deliveredAt IS NULL")
        }
    }

    /// Deletes delivered entries older than `cutoff`, and pending entries older than it whose
    /// sink is no longer configured (they can never be delivered). Returns how many went.
    @discardableResult
    public func prune(before cutoff: Date, keepingSinks sinks: Set<String>) async throws(SanpathError) -> Int {
        try await database.write("prune") { db in
            try db.execute(sql: "DELETE FROM outbox WHERE deliveredAt IS NOT NULL AND deliveredAt < ?", arguments: [cutoff])
            var removed = db.changesCount
            let orphans = try String.fetchAll(db, sql: "SELECT DISTINCT sink FROM outbox WHERE deliveredAt IS NULL")
                .filter { !sinks.contains($0) }
            for sink in orphans {
                try db.execute(
                    sql: "DELETE FROM outbox WHERE sink = ? AND deliveredAt IS NULL AND enqueuedAt < ?", arguments: [sink, cutoff])
                removed += db.changesCount
            }
            return removed
        }
    }

    /// Per sink: pending and kept entries, and the state of the oldest pending one.
    public func summary() async throws(SanpathError) -> [OutboxSinkSummary] {
        try await database.read("summarize") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT o.sink,
                           SUM(o.deliveredAt IS NULL) AS pending,
                           SUM(o.deliveredAt IS NOT NULL) AS delivered,
                           h.attempts, h.lastError, h.nextAttemptAt
                    FROM outbox o
                    LEFT JOIN outbox h ON h.id = (SELECT MIN(id) FROM outbox WHERE sink = o.sink AND deliveredAt IS NULL)
                    GROUP BY o.sink ORDER BY o.sink
                    """
            ).map { row in
                OutboxSinkSummary(
                    sink: row["sink"], pending: row["pending"], delivered: row["delivered"], attempts: row["attempts"] ?? 0,
                    lastError: row["lastError"], nextAttemptAt: row["nextAttemptAt"])
            }
        }
    }

    // The stored form is the Codable event with exact (Double) times, not the wire JSON.
    static func encode(_ event: AlertEvent) throws(SanpathError) -> Data {
        do {
            return try JSONEncoder().encode(event)
        } catch {
            throw SanpathError(.io, "cannot encode alert \(event.id): \(error)", underlying: error)
        }
    }

    static func decode(_ data: Data, what: String) throws(SanpathError) -> AlertEvent {
        do {
            return try JSONDecoder().decode(AlertEvent.self, from: data)
        } catch {
            throw SanpathError(.io, "state database: \(what) holds an unreadable alert: \(error)", underlying: error)
        }
    }

    @Sendable private static func entry(_ row: Row) throws(SanpathError) -> OutboxEntry {
        let id: Int64 = row["id"]
        return OutboxEntry(
            id: id, sink: row["sink"], event: try decode(row["event"], what: "outbox entry \(id)"), enqueuedAt: row["enqueuedAt"],
            attempts: row["attempts"], lastAttemptAt: row["lastAttemptAt"], lastError: row["lastError"],
            nextAttemptAt: row["nextAttemptAt"], deliveredAt: row["deliveredAt"])
    }
}
