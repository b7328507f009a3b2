import Foundation
import GRDB
import SanpathCore
import SanpathHealth

/// Changes to the alert-state table, applied in the same transaction as an enqueue.
public struct AlertStateChanges: Sendable, Hashable {
    /// Keys to set, with their JSON.
    public var save: [String: Data]
    /// Keys to remove.
    public var delete: [String]

    /// Some changes (none by default).
    public init(save: [String: Data] = [:], delete: [String] = []) {
        self.save = save
        self.delete = delete
    }

    /// What a batch of events does to the set of firing alerts: a firing event stores itself
    /// under its alert key (the latest wins, so an escalation replaces the first), a resolved
    /// event removes the key.
    public static func tracking(_ events: [AlertEvent]) throws(SanpathError) -> AlertStateChanges {
        var changes = AlertStateChanges()
        for event in events {
            switch event.state {
            case .firing:
                changes.save[event.alertKey] = try Outbox.encode(event)
                changes.delete.removeAll { $0 == event.alertKey }
            case .resolved:
                changes.save[event.alertKey] = nil
                changes.delete.append(event.alertKey)
            }
        }
        return changes
    }
}

/// Which alerts are firing, kept across restarts so a restart neither fires them again nor
/// forgets them: key → JSON. `AlertDelivery` keeps it in step with the events it enqueues (in
/// the same transaction); at start the daemon restores the engine from `restoredFiring`.
public struct AlertStateStore: Sendable {
    private let database: StateDatabase

    /// The store in `database`.
    public init(database: StateDatabase) {
        self.database = database
    }

    /// Sets one key.
    public func save(_ value: Data, for key: String, at now: Date = Date()) async throws(SanpathError) {
        try await apply(AlertStateChanges(save: [key: value]), at: now)
    }

    /// Removes one key.
    public func delete(_ key: String) async throws(SanpathError) {
        try await apply(AlertStateChanges(delete: [key]))
    }

    /// Applies several changes at once.
    public func apply(_ changes: AlertStateChanges, at now: Date = Date()) async throws(SanpathError) {
        try await database.write("save alert state") { db in try AlertStateStore.apply(changes, in: db, at: now) }
    }

    /// Every key and its JSON.
    public func load() async throws(SanpathError) -> [String: Data] {
        try await database.read("load alert state") { db in
            var out: [String: Data] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM alertState ORDER BY key") { out[row["key"]] = row["value"] }
            return out
        }
    }

    /// The firing events stored by `AlertStateChanges.tracking`, in key order.
    public func firingEvents() async throws(SanpathError) -> [AlertEvent] {
        let stored = try await load()
        return try stored.keys.sorted().map { key throws(SanpathError) in try Outbox.decode(stored[key]!, what: "alert state '\(key)'") }
    }

    /// The firing alerts to hand the state machine at start. `monotonicNow` is the engine's
    /// clock; each alert's monotonic start is put as far back as its wall-clock age.
    public func restoredFiring(now: Date = Date(), monotonicNow: Double) async throws(SanpathError) -> [AlertStateMachine.Firing] {
        try await firingEvents().map { event in
            AlertStateMachine.Firing(
                candidate: AlertCandidate(
                    key: event.alertKey, kind: event.kind, severity: event.severity, summary: event.summary, maps: event.maps,
                    paths: event.paths),
                startedAt: event.startedAt, startedMonotonic: monotonicNow - max(0, now.timeIntervalSince(event.startedAt)),
                flapping: false)
        }
    }

    static func apply(_ changes: AlertStateChanges, in db: Database, at now: Date) throws {
        for key in changes.delete {
            try db.execute(sql: "DELETE FROM alertState WHERE key = ?", arguments: [key])
        }
        for (key, value) in changes.save {
            try db.execute(
                sql: "INSERT INTO alertState (key, value, updatedAt) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updatedAt = excluded.updatedAt",
                arguments: [key, value, now])
        }
    }
}
