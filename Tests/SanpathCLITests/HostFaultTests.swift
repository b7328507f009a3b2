import Foundation
import Testing

/// tmpfs mounts for the fault tests: mount(8) needs root (CAP_SYS_ADMIN), which CI has.
enum Mounts {
    /// Whether this process may mount a tmpfs: tried once, on a scratch folder.
    static let available: Bool = {
        guard geteuid() == 0 else { return false }
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-mount-probe-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe]) else { return false }
        return run(["umount", probe])
    }()

    static let why = "needs root and mount(8) of a tmpfs (refused here): the full-disk and read-only tests did not run"

    @discardableResult
    static func run(_ argv: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// Puts a tmpfs of `size` at `path`, holding what `path` held.
    static func tmpfs(at path: String, size: String) throws {
        let keep = path + ".orig"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: path, toPath: keep)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try #require(run(["mount", "-t", "tmpfs", "-o", "size=\(size),mode=0755", "tmpfs", path]), "mount tmpfs at \(path)")
        try #require(run(["cp", "-a", keep + "/.", path]))
        try FileManager.default.removeItem(atPath: keep)
    }

    static func readOnly(_ path: String, _ on: Bool = true) throws {
        try #require(run(["mount", "-o", "remount,\(on ? "ro" : "rw")", path]))
    }
}

/// Faults of the host's file systems: a full disk and a read-only one give a clean error with
/// nothing changed, and the next apply works once the fault is gone.
@Suite(.serialized, .enabled(if: Mounts.available, Comment(rawValue: Mounts.why))) struct HostFaultTests {
    static func chapTree() throws -> HostTree {
        try HostTree(copying: Corpus.directory.appendingPathComponent("chap/root"))
    }

    /// Nothing of a failed apply is left: host files as before, no record, no backup, no temp file.
    static func unchanged(_ tree: HostTree, _ before: TreeState, ignoring: String? = nil) throws {
        var after = try TreeState(tree)
        var before = before
        if let ignoring {
            after.files[ignoring] = nil
            before.files[ignoring] = nil
        }
        #expect(after.files == before.files, "host files changed")
        #expect(after.records.isEmpty, "a record was left")
        #expect(after.leftovers.isEmpty, "temp files left: \(after.leftovers)")
        let backups = tree.root.appendingPathComponent("var/lib/sanpath/backups").path
        let left = (try? FileManager.default.subpathsOfDirectory(atPath: backups))?.filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: backups + "/" + $0, isDirectory: &isDirectory) && !isDirectory.boolValue
        } ?? []
        #expect(left.isEmpty, "backups left: \(left)")
    }

    /// The rule's folder is read-only: multipath.conf, iscsid.conf and both iface files are already
    /// written when the rule's write fails, and apply puts all four back.
    @Test func aReadOnlyFolderMidwayPutsBackWhatWasWritten() throws {
        let tree = try Self.chapTree()
        let rules = tree.root.appendingPathComponent("etc/udev/rules.d").path
        try Mounts.tmpfs(at: rules, size: "4m")
        defer {
            Mounts.run(["umount", rules])
            tree.remove()
        }
        try Mounts.readOnly(rules)
        let before = try TreeState(tree)
        let apply = try SanpathBinary.run(["apply", "--update-node-records"] + Corpus.siteArguments(tree))
        #expect(apply.status == 1)
        #expect(apply.stderr.contains("Read-only file system"), "\(apply.stderr)")
        #expect(apply.stderr.contains("the 4 file(s) already written were put back, nothing changed"), "\(apply.stderr)")
        try Self.unchanged(tree, before)
        try Mounts.readOnly(rules, false)
        #expect(try SanpathBinary.run(["apply", "--update-node-records"] + Corpus.siteArguments(tree)).status == 0)
    }

    /// The whole root read-only: apply cannot even take its lock, and says why.
    @Test func aReadOnlyRootChangesNothing() throws {
        let tree = try Self.chapTree()
        try Mounts.tmpfs(at: tree.root.path, size: "4m")
        defer {
            Mounts.run(["umount", tree.root.path])
            tree.remove()
        }
        try Mounts.readOnly(tree.root.path)
        let before = try TreeState(tree)
        let apply = try SanpathBinary.run(["apply"] + Corpus.siteArguments(tree))
        #expect(apply.status == 1)
        #expect(apply.stderr.contains("Read-only file system"), "\(apply.stderr)")
        #expect(!apply.stderr.contains("Fatal error"))
        try Self.unchanged(tree, before)
        #expect(try SanpathBinary.run(["plan"] + Corpus.siteArguments(tree)).status == 2, "plan reads a read-only host")
    }

    /// A full tmpfs, then one page freed at a time: apply refuses cleanly until there is room for
    /// the record, the backups and the temp copies, then applies; never anything in between.
    @Test func aFullDiskChangesNothingUntilThereIsRoom() throws {
        let tree = try Self.chapTree()
        try Mounts.tmpfs(at: tree.root.path, size: "512k")
        defer {
            Mounts.run(["umount", tree.root.path])
            tree.remove()
        }
        let filler = tree.root.appendingPathComponent("filler").path
        let handle = try #require(FileHandle(forWritingAtPath: filler) ?? {
            FileManager.default.createFile(atPath: filler, contents: nil)
            return FileHandle(forWritingAtPath: filler)
        }())
        let page = Data(count: 4096)
        while (try? handle.write(contentsOf: page)) != nil {}
        let full = try handle.offset()
        try handle.close()
        let before = try TreeState(tree)
        var refused = 0
        var appliedWith: Int?
        for free in stride(from: 0, through: 100, by: 4) {
            try #require(truncate(filler, off_t(full) - off_t(free * 4096)) == 0)
            let apply = try SanpathBinary.run(["apply", "--update-node-records"] + Corpus.siteArguments(tree))
            if apply.status == 0 {
                appliedWith = free
                break
            }
            #expect(apply.status == 1)
            #expect(
                apply.stderr.contains("not enough space") || apply.stderr.contains("No space left on device"), "\(apply.stderr)")
            #expect(!apply.stderr.contains("Fatal error"))
            try Self.unchanged(tree, before, ignoring: "filler")
            refused += 1
        }
        #expect(refused > 0, "the disk was never too full")
        #expect(appliedWith != nil, "apply never found room")
        print("full disk: apply refused with 0…\((appliedWith ?? 0) - 4) free pages (\(refused) tries), applied with \(appliedWith ?? -1)")
    }
}

/// `--root` is a captured host: no symlink in it may lead plan or apply to this machine's files.
@Suite struct RootConfinementTests {
    @Test func aSymlinkOutOfTheRootIsRefused() throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("chap/root"))
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-outside-\(UUID().uuidString)")
        defer {
            tree.remove()
            try? FileManager.default.removeItem(at: outside)
        }
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        let victim = outside.appendingPathComponent("multipath.conf")
        try Data("defaults {\n\tuser_friendly_names no\n}\n".utf8).write(to: victim)
        let original = try Data(contentsOf: victim)
        // the file itself, absolute
        try FileManager.default.createSymbolicLink(
            atPath: tree.root.appendingPathComponent("etc/multipath.conf").path, withDestinationPath: victim.path)
        for verb in ["plan", "apply"] {
            let result = try SanpathBinary.run([verb] + Corpus.siteArguments(tree))
            #expect(result.status == 1, "\(verb): \(result.all)")
            #expect(result.stderr.contains("leads out of --root"), "\(verb): \(result.stderr)")
        }
        #expect(try Data(contentsOf: victim) == original)
        #expect(try TreeState(tree).records.isEmpty)

        // a folder on the way, relative: etc/iscsi -> ../../outside
        try FileManager.default.removeItem(at: tree.root.appendingPathComponent("etc/multipath.conf"))
        let iscsi = tree.root.appendingPathComponent("etc/iscsi")
        try FileManager.default.moveItem(at: iscsi, to: outside.appendingPathComponent("iscsi"))
        let relative = String(repeating: "../", count: tree.root.pathComponents.count) + String(outside.path.dropFirst()) + "/iscsi"
        try FileManager.default.createSymbolicLink(atPath: iscsi.path, withDestinationPath: relative)
        let before = try Data(contentsOf: outside.appendingPathComponent("iscsi/iscsid.conf"))
        let apply = try SanpathBinary.run(["apply"] + Corpus.siteArguments(tree))
        #expect(apply.status == 1, "\(apply.all)")
        #expect(apply.stderr.contains("leads out of --root"), "\(apply.stderr)")
        #expect(try Data(contentsOf: outside.appendingPathComponent("iscsi/iscsid.conf")) == before)
        #expect(!FileManager.default.fileExists(atPath: outside.appendingPathComponent("multipath.conf.sanpath").path))
    }

    /// A symlink that stays inside the root is the captured host's own: followed.
    @Test func aSymlinkInsideTheRootIsFollowed() throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("chap/root"))
        defer { tree.remove() }
        let iscsi = tree.root.appendingPathComponent("etc/iscsi")
        try FileManager.default.createDirectory(at: tree.root.appendingPathComponent("srv"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: iscsi, to: tree.root.appendingPathComponent("srv/iscsi"))
        try FileManager.default.createSymbolicLink(atPath: iscsi.path, withDestinationPath: "../srv/iscsi")
        let plan = try SanpathBinary.run(["plan"] + Corpus.siteArguments(tree))
        #expect(plan.status == 2, "\(plan.all)")
        #expect(try SanpathBinary.run(["apply"] + Corpus.siteArguments(tree)).status == 0)
    }
}
