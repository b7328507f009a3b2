import Foundation
import Logging
import SanpathConfig
import SanpathCore
import SanpathHost
import SanpathProfiles

/// What `apply` left on disk so that `rollback` can undo it: one JSON file per apply under
/// `/var/lib/sanpath/applies/`, the replaced files under `/var/lib/sanpath/backups/<id>/`.
public struct ApplyRecord: Sendable, Codable, Hashable {
    /// One file an apply wrote.
    public struct File: Sendable, Codable, Hashable {
        /// Host path.
        public var path: String
        /// Whether the file existed before (rollback removes it otherwise).
        public var existed: Bool
        /// Host path of the backup copy, when it existed.
        public var backup: String?
        /// Owner and mode it had.
        public var info: FileInfo?
        /// FNV-1a hash of what apply wrote, to notice edits made since.
        public var writtenHash: String
        /// FNV-1a hash of what was there before (nil for a file apply created, and in records
        /// written before sanpath kept it): tells a file a crashed apply never reached, or a
        /// rollback already put back, from one edited since.
        public var previousHash: String? = nil
    }

    /// `in-progress` (written before the first backup: an apply killed at any later moment leaves
    /// it, and the next apply or rollback undoes what it wrote), `complete`, `rolled-back`.
    public enum Status: String, Sendable, Codable { case inProgress = "in-progress", complete, rolledBack = "rolled-back" }

    /// Sortable id: UTC time and pid.
    public var id: String
    /// When it ran (ISO 8601).
    public var time: String
    /// "equallogic nc".
    public var profile: String
    /// State.
    public var status: Status
    /// Files written.
    public var files: [File]
    /// Why it was rolled back when no one asked: "interrupted" for an apply that never finished.
    public var note: String? = nil
}

/// Content fingerprint for drift checks (not for security).
enum ContentHash {
    static func fnv1a64(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return "fnv1a64:" + String(hash, radix: 16)
    }
}

/// The outcome of an apply, for the caller to report.
public struct ApplyOutcome: Sendable {
    /// The record written, nil when nothing had to change.
    public var record: ApplyRecord?
    /// What was reloaded or why not, one line each.
    public var actions: [String]
    /// Node records updated with `--update-node-records`.
    public var updatedNodeRecords: [StaleNodeRecord]
    /// Reloads that failed, one line each: the files are written (the new wanted state, which
    /// `sanpath rollback` undoes) but not live. The command exits 1 when there is any.
    public var failures: [String] = []

    /// Creates an outcome.
    public init(record: ApplyRecord?, actions: [String], updatedNodeRecords: [StaleNodeRecord], failures: [String] = []) {
        self.record = record
        self.actions = actions
        self.updatedNodeRecords = updatedNodeRecords
        self.failures = failures
    }
}

/// The outcome of a rollback, for the caller to report.
public struct RollbackOutcome: Sendable {
    /// The record rolled back.
    public var record: ApplyRecord
    /// What was reloaded or why not, one line each.
    public var actions: [String]
    /// Reloads that failed, one line each: the old files are back on disk but not live.
    public var failures: [String]
}

/// What the reloads after a write did: every step in `actions`, the failed ones also in `failures`.
struct ReloadReport: Sendable {
    var actions: [String] = []
    var failures: [String] = []

    mutating func done(_ action: String) { actions.append(action) }

    mutating func failed(_ failure: String) {
        actions.append(failure)
        failures.append(failure)
    }
}

extension FilePlan {
    /// Whether the file after apply holds a CHAP secret: a `*.auth.password*` setting with a value
    /// (open-iscsi grammar only; a line open-iscsi skips still shows the secret to whoever reads it).
    public var holdsSecret: Bool {
        guard grammar == .openISCSI else { return false }
        return ISCSIConf(lines: after, source: realPath).settings.contains { Secrets.isSecretKey($0.key) && !$0.value.isEmpty }
    }

    /// Owner and mode apply writes: the existing file's, kept, except that a file holding a secret
    /// is narrowed to at most 0600 (0644 becomes 0600, 0400 stays); a new file gets `newFileMode`, root's.
    public var writeInfo: FileInfo {
        guard var info = existingInfo else { return FileInfo(mode: newFileMode, uid: 0, gid: 0) }
        if holdsSecret { info.mode &= 0o600 }
        return info
    }
}

/// Writes a plan safely, and undoes the last apply.
public struct Applier: Sendable {
    /// Where sanpath keeps its state, as a host path.
    public static let stateDirectory = "/var/lib/sanpath"

    /// The host's files.
    public let fileSystem: any HostFileSystem
    /// Runs multipathd, udevadm, iscsiadm.
    public let runner: any CommandRunner
    /// Reload services and use iscsiadm (false under `--root` and `--no-reload`).
    public let liveHost: Bool
    /// Logger (metadata: file, record id).
    public let logger: Logger

    /// Creates an applier.
    public init(fileSystem: any HostFileSystem, runner: any CommandRunner, liveHost: Bool, logger: Logger) {
        self.fileSystem = fileSystem
        self.runner = runner
        self.liveHost = liveHost
        self.logger = logger
    }

    var recordsDirectory: String { "\(Applier.stateDirectory)/applies" }

    /// Applies the plan: every changed file written atomically with its owner and mode kept,
    /// after a backup; all or nothing (a failed write puts back the files already written).
    public func apply(_ plan: Plan, updateNodeRecords: Bool) async throws(SanpathError) -> ApplyOutcome {
        let lock = try fileSystem.lock("\(Applier.stateDirectory)/lock")
        defer { lock.release() }
        // the plan may have read a half-applied host: recoverInterrupted() comes before planning
        if let interrupted = try records().last(where: { $0.status == .inProgress }) {
            throw SanpathError(
                .state, "apply \(interrupted.id) was interrupted; undo it first (recoverInterrupted, as sanpath apply and rollback do) and plan again")
        }
        var outcome = ApplyOutcome(record: nil, actions: [], updatedNodeRecords: [])
        let changed = plan.files.filter(\.isChanged)
        var nodeFiles: [(record: StaleNodeRecord, bytes: [UInt8])] = []
        if updateNodeRecords {
            for record in plan.staleNodeRecords {
                if let bytes = try fileSystem.read(record.path) { nodeFiles.append((record, bytes)) }
            }
        }
        guard !changed.isEmpty || !nodeFiles.isEmpty else { return outcome }

        // the files must still be what the plan read
        for file in changed {
            let now = try fileSystem.read(file.path)
            let planned = file.before.map { Array($0.joined.utf8) }
            guard now == planned else {
                throw SanpathError(.state, "\(file.realPath) changed while planning; run sanpath plan again")
            }
        }

        // the record first, then the backups, then the files: an apply killed at any moment
        // leaves an in-progress record that names every backup it may have made
        let id = Applier.newID()
        let backups = "\(Applier.stateDirectory)/backups/\(id)"
        var record = ApplyRecord(
            id: id, time: Date().ISO8601Format(), profile: plan.profileName, status: .inProgress, files: [])
        var copies: [(path: String, bytes: [UInt8], info: FileInfo)] = []
        var writes: [(path: String, bytes: [UInt8], info: FileInfo)] = []
        for file in changed {
            let bytes = Array(file.after.joined.utf8)
            var entry = ApplyRecord.File(
                path: file.path, existed: file.before != nil, backup: nil, info: file.existingInfo,
                writtenHash: ContentHash.fnv1a64(bytes))
            if let before = file.before, let existingInfo = file.existingInfo {
                let old = Array(before.joined.utf8)
                entry.backup = backups + file.path
                entry.previousHash = ContentHash.fnv1a64(old)
                copies.append((entry.backup!, old, FileInfo(mode: existingInfo.mode & 0o700, uid: existingInfo.uid, gid: existingInfo.gid)))
            }
            record.files.append(entry)
            writes.append((file.path, bytes, file.writeInfo))
        }
        // node records on a host image (--root) are edited as files; on a live host by iscsiadm
        for (stale, bytes) in nodeFiles {
            let original = try fileSystem.info(stale.path) ?? FileInfo(mode: 0o600, uid: 0, gid: 0)
            var info = original
            let nodeConf = ISCSIConf(lines: try TextLines(bytes: bytes, source: stale.path), source: stale.path)
            // a node record holding a CHAP secret is narrowed like iscsid.conf (iscsiadm makes them 0600)
            if nodeConf.settings.contains(where: { Secrets.isSecretKey($0.key) && !$0.value.isEmpty }) { info.mode &= 0o600 }
            let backup = backups + stale.path
            copies.append((backup, bytes, FileInfo(mode: 0o600, uid: info.uid, gid: info.gid)))
            var entry = ApplyRecord.File(
                path: stale.path, existed: true, backup: backup, info: original, writtenHash: "",
                previousHash: ContentHash.fnv1a64(bytes))
            if !liveHost {
                let conf = nodeConf
                var wanted = stale.settings.map { ISCSIFormat.line(key: $0.key, value: $0.wantedValue) }.joined(separator: "\n")
                wanted += "\n"
                let merged = ISCSIMerge.merge(
                    existing: conf, rendered: ISCSIConf(text: wanted, source: "iscsid.conf"), profileName: plan.profileName)
                let newBytes = Array(merged.lines.joined.utf8)
                entry.writtenHash = ContentHash.fnv1a64(newBytes)
                writes.append((stale.path, newBytes, info))
            }
            record.files.append(entry)
        }
        try checkSpace(record: record, copies: copies.map(\.bytes), writes: writes.map(\.bytes))
        try writeRecord(record)

        var done: [ApplyRecord.File] = []
        do {
            // the backups' folders are sanpath's state: 0700 like the state folder
            for copy in copies {
                try fileSystem.createDirectory(Applier.directory(of: copy.path), mode: 0o700)
                try fileSystem.write(copy.path, copy.bytes, info: copy.info)
            }
            for write in writes {
                try fileSystem.write(write.path, write.bytes, info: write.info)
                done.append(record.files.first { $0.path == write.path }!)
                logger.info("wrote file", metadata: ["file": "\(fileSystem.resolve(write.path))", "apply": "\(id)"])
            }
        } catch {
            throw undoFailedApply(record, written: done, error: error)
        }

        if liveHost {
            for (stale, _) in nodeFiles {
                for setting in stale.settings {
                    let argv = [
                        "iscsiadm", "-m", "node", "-T", stale.target, "-p", stale.portal, "-I", stale.iface, "-o", "update",
                        "-n", setting.key, "-v", setting.wantedValue,
                    ]
                    let result = try await runner.run(argv, timeoutSeconds: 30)
                    guard result.succeeded else {
                        // never echo the argv: it may carry a CHAP secret
                        throw SanpathError(
                            .command,
                            "iscsiadm could not update \(setting.key) of node \(stale.target) \(stale.portal) iface \(stale.iface) (exit \(result.status)): \(result.stderr.trimmingWhitespace())")
                    }
                }
                if let bytes = try fileSystem.read(stale.path),
                    let index = record.files.firstIndex(where: { $0.path == stale.path })
                {
                    record.files[index].writtenHash = ContentHash.fnv1a64(bytes)
                }
            }
        }
        outcome.updatedNodeRecords = nodeFiles.map(\.record)
        record.status = .complete
        try writeRecord(record)
        outcome.record = record
        let reloads = await reload(changedKinds: Set(changed.map(\.kind)))
        outcome.actions = reloads.actions
        outcome.failures = reloads.failures
        return outcome
    }

    /// Refuses before anything is written when a file system lacks the room apply needs: the
    /// record twice, the backups, and each file's temp copy, in whole pages, plus 64 KiB. Putting
    /// back a file after a write that failed for want of space would need space too.
    func checkSpace(record: ApplyRecord, copies: [[UInt8]], writes: [[UInt8]]) throws(SanpathError) {
        func pages(_ count: Int) -> UInt64 { UInt64((count + 4095) / 4096 * 4096) }
        let recordSize = 1024 + 768 * record.files.count  // pretty JSON of a record, generously
        let needed = 2 * pages(recordSize) + copies.reduce(0) { $0 + pages($1.count) } + writes.reduce(0) { $0 + pages($1.count) } + 65536
        let folders = Set([recordsDirectory] + record.files.map { Applier.directory(of: $0.path) })
        for folder in folders.sorted() {
            guard let free = fileSystem.availableBytes(folder), free < needed else { continue }
            throw SanpathError(
                .io,
                "not enough space for \(fileSystem.resolve(folder)): \(free) bytes free, apply needs \(needed) (record, backups, temp copies); nothing changed")
        }
    }

    /// A write failed (disk full, read-only, a permission): puts back the files already written,
    /// newest first, and removes the record and the backups, so that nothing is changed. If a file
    /// cannot be put back, the in-progress record stays for the next apply or rollback to finish.
    func undoFailedApply(_ record: ApplyRecord, written: [ApplyRecord.File], error: SanpathError) -> SanpathError {
        do {
            for file in written.reversed() { try restore(file, path: file.path) }
            for directory in Set(record.files.map { Applier.directory(of: $0.path) }) {
                try fileSystem.removeLeftovers(in: directory)
            }
            try fileSystem.removeTree("\(Applier.stateDirectory)/backups/\(record.id)")
            try fileSystem.remove(recordPath(record.id))
        } catch let undo {
            logger.error("cannot undo a failed apply", metadata: ["apply": "\(record.id)", "error": "\(undo.message)"])
            return SanpathError(
                .io,
                "\(error.message); putting back the \(written.count) file(s) already written failed too (\(undo.message)): apply \(record.id) stays in-progress, and the next sanpath apply or rollback puts them back",
                underlying: error)
        }
        return SanpathError(
            .io, "\(error.message); the \(written.count) file(s) already written were put back, nothing changed", underlying: error)
    }

    /// Undoes every apply that was killed before it finished (an `in-progress` record, its process
    /// gone since the lock is free): each file it wrote gets its backup back, each file it created
    /// is removed, files it never reached are left, and the temp files of a killed write go. The
    /// record becomes `rolled-back` with the note `interrupted`. Refuses a file that is neither
    /// what was there nor what apply wrote (edited since). `sanpath apply` runs this before it
    /// plans; `sanpath rollback` runs it first and, when it undid something, stops there.
    public func recoverInterrupted() throws(SanpathError) -> [ApplyRecord] {
        // a host with nothing interrupted is not touched (not even the lock file); an apply killed
        // while it wrote its first record left only that record's temp file
        let killedFirstRecord = fileSystem.list(recordsDirectory).contains { $0.hasPrefix(".") }
        let interrupted = try records().contains { $0.status == .inProgress }
        guard killedFirstRecord || interrupted else { return [] }
        let lock = try fileSystem.lock("\(Applier.stateDirectory)/lock")
        defer { lock.release() }
        return try undoInterrupted()
    }

    func undoInterrupted() throws(SanpathError) -> [ApplyRecord] {
        try fileSystem.removeLeftovers(in: recordsDirectory)
        var undone: [ApplyRecord] = []
        for var record in try records().reversed() where record.status == .inProgress {
            for file in record.files.reversed() {
                let now = try fileSystem.read(file.path).map(ContentHash.fnv1a64)
                try fileSystem.removeLeftovers(in: Applier.directory(of: file.path))
                if let backup = file.backup { try fileSystem.removeLeftovers(in: Applier.directory(of: backup)) }
                if file.existed {
                    guard now != file.previousHash else { continue }
                    // writtenHash is empty while iscsiadm updates a live node record
                    guard file.previousHash == nil || now == file.writtenHash || file.writtenHash.isEmpty else {
                        throw SanpathError(
                            .state,
                            "apply \(record.id) was interrupted, and \(fileSystem.resolve(file.path)) was edited since; put it back by hand from \(file.backup.map(fileSystem.resolve) ?? "its backup") or remove \(fileSystem.resolve(recordPath(record.id)))")
                    }
                    try restore(file, path: file.path)
                } else if now != nil {
                    guard now == file.writtenHash else {
                        throw SanpathError(
                            .state,
                            "apply \(record.id) was interrupted, and \(fileSystem.resolve(file.path)), which it created, was edited since; remove it by hand or remove \(fileSystem.resolve(recordPath(record.id)))")
                    }
                    try fileSystem.remove(file.path)
                }
            }
            record.status = .rolledBack
            record.note = "interrupted"
            try writeRecord(record)
            logger.warning("undid an interrupted apply", metadata: ["apply": "\(record.id)"])
            undone.append(record)
        }
        return undone
    }

    /// Restores the files of the last apply that was not rolled back. Refuses when a file was
    /// edited after that apply, unless `force`.
    public func rollback(force: Bool) async throws(SanpathError) -> RollbackOutcome {
        let lock = try fileSystem.lock("\(Applier.stateDirectory)/lock")
        defer { lock.release() }
        let interrupted = try undoInterrupted()
        if let newest = interrupted.first {
            // an interrupted apply is what the admin last ran: undoing it is this rollback
            let kinds = Set(interrupted.flatMap(\.files).compactMap { ManagedFileKindForReload(path: $0.path) })
            let reloads = await reloadAfterRollback(kinds)
            return RollbackOutcome(record: newest, actions: reloads.actions, failures: reloads.failures)
        }
        guard var record = try records().last(where: { $0.status != .rolledBack }) else {
            throw SanpathError(.state, "nothing to roll back: no apply is recorded in \(fileSystem.resolve(recordsDirectory))")
        }
        if !force {
            var drifted: [String] = []
            for file in record.files where !file.writtenHash.isEmpty {
                let now = try fileSystem.read(file.path).map(ContentHash.fnv1a64)
                // what a rollback killed halfway already put back is not an edit
                let putBack = file.existed ? (file.previousHash != nil && now == file.previousHash) : now == nil
                if now != file.writtenHash && !putBack { drifted.append(fileSystem.resolve(file.path)) }
            }
            guard drifted.isEmpty else {
                throw SanpathError(
                    .state,
                    "changed since apply \(record.id): \(drifted.joined(separator: ", ")); rollback would lose those edits (use --force to roll back anyway)")
            }
        }
        for file in record.files.reversed() { try restore(file, path: file.path) }
        record.status = .rolledBack
        try writeRecord(record)
        let reloads = await reloadAfterRollback(Set(record.files.compactMap { ManagedFileKindForReload(path: $0.path) }))
        return RollbackOutcome(record: record, actions: reloads.actions, failures: reloads.failures)
    }

    func reloadAfterRollback(_ kinds: Set<ManagedFileKindForReload>) async -> ReloadReport {
        var reloads = ReloadReport()
        if liveHost {
            if kinds.contains(.multipath) { await reloadMultipathd(into: &reloads, afterRollback: true) }
            if kinds.contains(.udev) { await reloadUdev(into: &reloads) }
            if kinds.contains(.sysctl) {
                reloads.done(
                    "the kernel keeps the ARP settings sanpath loaded until reboot; set them back with sysctl -w if the NICs need their old values now")
            }
        } else {
            reloads.done("no reload (--root or --no-reload)")
        }
        return reloads
    }

    func restore(_ file: ApplyRecord.File, path: String) throws(SanpathError) {
        if file.existed, let previous = file.previousHash, try fileSystem.read(path).map(ContentHash.fnv1a64) == previous {
            return  // already what was there (never reached, or put back by a rollback killed halfway)
        }
        if file.existed, let backup = file.backup {
            guard let bytes = try fileSystem.read(backup) else {
                throw SanpathError(.state, "backup \(fileSystem.resolve(backup)) is missing; cannot restore \(fileSystem.resolve(path))")
            }
            try fileSystem.write(path, bytes, info: file.info ?? FileInfo(mode: 0o644, uid: 0, gid: 0))
        } else {
            try fileSystem.remove(path)
        }
    }

    /// Every apply record, oldest first.
    public func records() throws(SanpathError) -> [ApplyRecord] {
        var out: [ApplyRecord] = []
        for name in fileSystem.list(recordsDirectory) where name.hasSuffix(".json") {
            guard let bytes = try fileSystem.read("\(recordsDirectory)/\(name)") else { continue }
            do {
                out.append(try JSONDecoder().decode(ApplyRecord.self, from: Data(bytes)))
            } catch {
                throw SanpathError(.state, "apply record \(fileSystem.resolve("\(recordsDirectory)/\(name)")) is unreadable: \(error)")
            }
        }
        return out.sorted { $0.id < $1.id }
    }

    static func directory(of path: String) -> String {
        let parent = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        return parent.isEmpty ? "/" : parent
    }

    func recordPath(_ id: String) -> String { "\(recordsDirectory)/\(id).json" }

    func writeRecord(_ record: ApplyRecord) throws(SanpathError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(record) } catch { throw SanpathError(.io, "cannot encode the apply record: \(error)") }
        try fileSystem.createDirectory(recordsDirectory, mode: 0o700)
        try fileSystem.write(recordPath(record.id), Array(data), info: FileInfo(mode: 0o600, uid: 0, gid: 0))
    }

    static func newID() -> String {
        let now = Date()
        let stamp = now.ISO8601Format(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeSeparator(.omitted).dateSeparator(.omitted))
        let micros = Int(now.timeIntervalSince1970 * 1_000_000) % 1_000_000
        return "\(stamp)-\(String(format: "%06d", micros))-\(ProcessInfo.processInfo.processIdentifier)"
    }

    enum ManagedFileKindForReload: Hashable {
        case multipath, udev, sysctl
        init?(path: String) {
            if path.hasSuffix("multipath.conf") {
                self = .multipath
            } else if path.contains("/udev/rules.d/") {
                self = .udev
            } else if path.hasPrefix("/etc/sysctl.d/") {
                self = .sysctl
            } else {
                return nil
            }
        }
    }

    func reload(changedKinds: Set<ManagedFile>) async -> ReloadReport {
        var reloads = ReloadReport()
        guard liveHost else {
            reloads.done("no reload (--root or --no-reload)")
            return reloads
        }
        if changedKinds.contains(.multipathConf) { await reloadMultipathd(into: &reloads, afterRollback: false) }
        if changedKinds.contains(.udevRule) { await reloadUdev(into: &reloads) }
        if changedKinds.contains(.sysctl) { await loadSysctl(into: &reloads) }
        if changedKinds.contains(.iscsidConf) {
            reloads.done("iscsid was not restarted and no session was logged out: new sessions use the new iscsid.conf")
        }
        return reloads
    }

    /// Loads the profile's sysctl.d file into the running kernel (systemd-sysctl reads it at boot).
    func loadSysctl(into reloads: inout ReloadReport) async {
        let file = "/etc/sysctl.d/\(ProfileLibrary.sysctlFileName)"
        let retry = "the file is on disk but its values are not live until `sysctl -p \(file)` or a reboot"
        do {
            let result = try await runner.run(["sysctl", "-p", file], timeoutSeconds: 10)
            guard result.succeeded else {
                reloads.failed("sysctl -p \(file) failed (exit \(result.status)): \(result.stderr.trimmingWhitespace()); \(retry)")
                return
            }
            reloads.done("sysctl -p \(file): ARP settings of the iSCSI NICs are live")
        } catch {
            reloads.failed("sysctl -p \(file) could not run (\(error.message)); \(retry)")
        }
    }

    /// `multipathd reconfigure` when multipathd runs. multipathd's client exits 0 and prints `fail`
    /// for a command the daemon rejected, so the reply counts as much as the exit status.
    func reloadMultipathd(into reloads: inout ReloadReport, afterRollback: Bool) async {
        guard let status = try? await runner.run(["multipathd", "show", "daemon"], timeoutSeconds: 10), status.succeeded,
            status.stdout.contains("running") || status.stdout.contains("idle")
        else {
            reloads.done("multipathd is not running: nothing to reload (it reads the new file when it starts)")
            return
        }
        let what =
            afterRollback
            ? "the restored multipath settings are on disk but NOT live; retry with `multipathd reconfigure`"
            : "the new multipath settings are on disk but NOT live; retry with `multipathd reconfigure`, or undo with `sanpath rollback`"
        do {
            let result = try await runner.run(["multipathd", "reconfigure"], timeoutSeconds: 60)
            let stdout = result.stdout.trimmingWhitespace()
            let stderr = result.stderr.trimmingWhitespace()
            if result.succeeded, stdout != "fail" {
                reloads.done("multipathd reconfigure: \(stdout.isEmpty ? "ok" : stdout)")
                return
            }
            let said = [stdout, stderr].filter { !$0.isEmpty }.joined(separator: " / ")
            reloads.failed(
                "multipathd reconfigure failed (exit \(result.status)\(said.isEmpty ? "" : ", multipathd said: \(said)")): \(what)")
        } catch {
            reloads.failed("multipathd reconfigure could not run (\(error.message)): \(what)")
        }
    }

    /// The command that replays udev's rules for the dm-multipath maps only (device-mapper UUID
    /// `mpath-<wwid>`; kpartx partitions are `partN-mpath-…`, other dm targets differ): a changed
    /// owner or mode reaches the maps that exist, not only maps made later. udevadm matches the
    /// value as a glob; on a host without maps it matches nothing. `--verbose` lists what it triggered.
    static let udevTrigger = [
        "udevadm", "trigger", "--verbose", "--action=change", "--subsystem-match=block", "--property-match=DM_UUID=mpath-*",
    ]
    /// Waits for the triggered events (udevadm's own default is 120 s; a map's rules take milliseconds).
    static let udevSettle = ["udevadm", "settle", "--timeout=30"]

    /// Reloads udev's rules, then replays them for the multipath maps and waits for udev; stops at
    /// the first step that fails and says what is left to run.
    func reloadUdev(into reloads: inout ReloadReport) async {
        let steps: [(argv: [String], timeout: Double)] = [
            (["udevadm", "control", "--reload"], 30), (Applier.udevTrigger, 30), (Applier.udevSettle, 40),
        ]
        // as a person would type it: the glob quoted for the shell
        func typed(_ argv: [String]) -> String { argv.map { $0.contains("*") ? "'\($0)'" : $0 }.joined(separator: " ") }
        for (index, step) in steps.enumerated() {
            let left = "maps that exist keep the owner and mode they had; retry with `"
                + steps[index...].map { typed($0.argv) }.joined(separator: " && ") + "`"
            let result: CommandResult
            do {
                result = try await runner.run(step.argv, timeoutSeconds: step.timeout)
            } catch {
                reloads.failed("\(typed(step.argv)) could not run (\(error.message)): \(left)")
                return
            }
            guard result.succeeded else {
                let said = result.stderr.trimmingWhitespace()
                reloads.failed("\(typed(step.argv)) failed (exit \(result.status)\(said.isEmpty ? "" : ": \(said)")): \(left)")
                return
            }
            switch step.argv {
            case Applier.udevTrigger:
                let maps = result.stdout.split(whereSeparator: \.isNewline).compactMap { $0.split(separator: "/").last.map(String.init) }
                reloads.done(
                    maps.isEmpty
                        ? "udev rules replayed: no multipath map on this host (DM_UUID=mpath-*)"
                        : "udev rules replayed for \(maps.count) multipath map\(maps.count == 1 ? "" : "s") (change event): \(maps.joined(separator: ", "))")
            case Applier.udevSettle: reloads.done("udev events settled")
            default: reloads.done("udev rules reloaded")
            }
        }
    }
}
