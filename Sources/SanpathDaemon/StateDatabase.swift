import Foundation
import GRDB
import SanpathCore

/// The daemon's SQLite file (`/var/lib/sanpath/monitor.sqlite`, systemd's `StateDirectory`):
/// the alert outbox and the state of firing alerts. Opening it runs the migrations, so an older
/// file is brought up to date and a newer one is refused.
public final class StateDatabase: Sendable {
    /// Where the file is by default.
    public static let defaultPath = "/var/lib/sanpath/monitor.sqlite"

    /// The file (`:memory:` for an in-memory database).
    public let path: String
    let queue: DatabaseQueue

    /// Opens (creating it and its folder if needed) and migrates the database at `path`.
    public init(path: String = StateDatabase.defaultPath) throws(SanpathError) {
        self.path = path
        do {
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
                try FileManager.default.createDirectory(
                    atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            // alerts name hosts, maps and portals: root's alone, whatever the umask (SQLite gives
            // its journal the database file's mode)
            if path != ":memory:" {
                let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
                guard fd >= 0 else { throw SanpathError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
                defer { close(fd) }
                guard fchmod(fd, 0o600) == 0 else { throw SanpathError(.io, "cannot make \(path) 0600: \(String(cString: strerror(errno)))") }
            }
            var configuration = Configuration()
            configuration.label = "sanpath-state"
            // a second daemon on the same file waits instead of failing at once
            configuration.busyMode = .timeout(5)
            // A write-ahead log, synced at checkpoints rather than at every commit: an alert's
            // outbox write is an append, not a journal file made, synced twice and deleted
            // (under emulation that was 9 ms at the median and 56 ms at p99 on the way from the
            // kernel's event to the sinks). A daemon that crashes or is killed loses nothing (the
            // log is in the kernel's page cache); a host that loses power may lose the last
            // writes, never the database, and its alerts are found again from the kernel's state
            // when it is back.
            if path != ":memory:" {
                configuration.journalMode = .wal
                configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            }
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try StateDatabase.migrator.migrate(queue)
        } catch {
            throw SanpathError(.io, "cannot open the state database \(path): \(error)", underlying: error)
        }
    }

    /// A private in-memory database (tests, `--no-state`).
    public static func inMemory() throws(SanpathError) -> StateDatabase {
        try StateDatabase(path: ":memory:")
    }

    /// The schema, one migration per change; never edit a migration that has shipped.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: outbox and alert state") { db in
            try db.create(table: "outbox") { t in
                // AUTOINCREMENT: ids never go back, so id order is enqueue order even after pruning
                t.autoIncrementedPrimaryKey("id")
                t.column("sink", .text).notNull()
                t.column("eventID", .text).notNull()
                t.column("event", .blob).notNull()
                t.column("enqueuedAt", .datetime).notNull()
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("lastAttemptAt", .datetime)
                t.column("lastError", .text)
                t.column("nextAttemptAt", .datetime)
                t.column("deliveredAt", .datetime)
                t.uniqueKey(["sink", "eventID"])
            }
            try db.create(index: "outbox_pending", on: "outbox", columns: ["sink", "deliveredAt", "id"])
            try db.create(table: "alertState") { t in
                t.primaryKey("key", .text)
                t.column("value", .blob).notNull()
                t.column("updatedAt", .datetime).notNull()
            }
        }
        return migrator
    }

    /// Runs `body` in a write transaction; database errors become `SanpathError`s of code `.io`.
    func write<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws(SanpathError) -> T {
        try await perform(what) { try await self.queue.write(body) }
    }

    /// Runs `body` in a read transaction.
    func read<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws(SanpathError) -> T {
        try await perform(what) { try await self.queue.read(body) }
    }

    private func perform<T: Sendable>(_ what: String, _ operation: () async throws -> T) async throws(SanpathError) -> T {
        do {
            return try await operation()
        } catch let error as SanpathError {
            throw error
        } catch {
            throw SanpathError(.io, "state database \(path): \(what): \(error)", underlying: error)
        }
    }
}
