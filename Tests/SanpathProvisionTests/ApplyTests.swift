import Foundation
import Logging
import SanpathCore
import SanpathHost
import SanpathProfiles
import SanpathProvision
import SanpathSite
import SanpathTestSupport
import Synchronization
import Testing

/// A host tree in a temp directory, planned and applied through the real rooted file system.
struct TempHost: ~Copyable {
    let root: URL
    let fileSystem: LocalFileSystem

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-apply-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        fileSystem = LocalFileSystem(root: root.path)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    /// Puts a host file in place with a mode.
    func put(_ path: String, _ text: String, mode: Int) throws {
        let url = root.appendingPathComponent(String(path.dropFirst()))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
    }

    /// Permission bits of a host file.
    func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: fileSystem.resolve(path))
        return (attributes[.posixPermissions] as! NSNumber).intValue
    }

    func plan(_ site: Site) throws -> Plan {
        try Planner(fileSystem: fileSystem, profiles: ProfileLibrary(directory: templates)).plan(site)
    }

    /// `liveHost: true` under a root: the reload path runs, against the fake runner only.
    func applier(_ runner: FakeCommandRunner, liveHost: Bool = true) -> Applier {
        Applier(fileSystem: fileSystem, runner: runner, liveHost: liveHost, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }
}

/// The corpus host's site (Tests/SanpathCLITests/Corpus/distro-default), optionally with CHAP.
func site(chap: CHAPCredentials? = nil) -> Site {
    let here = SourceLocation(source: "test")
    return Site(
        vendor: .equallogic, role: .nc,
        paths: [
            ISCSIPath(iface: "iface0", portal: PortalAddress(host: "10.107.1.200"), location: here),
            ISCSIPath(iface: "iface1", portal: PortalAddress(host: "10.108.1.200"), location: here),
        ],
        interfaces: [
            InterfaceBinding(iface: "iface0", nic: "br0", location: here), InterfaceBinding(iface: "iface1", nic: "eth1", location: here),
        ],
        chap: chap)
}

let chap = CHAPCredentials(username: "nc-initiator", password: "s3cret-chap-Passw0rd")

/// Debian 12's stock iscsid.conf, as the corpus keeps it.
let stockISCSIDConf: String = {
    let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("SanpathCLITests/Corpus/distro-default/root/etc/iscsi/iscsid.conf")
    return try! String(contentsOf: corpus, encoding: .utf8)
}()

@Suite struct ApplyReloadTests {
    static let reconfigure = ["multipathd", "reconfigure"]

    /// multipathd's client exits 1 when it cannot reach the daemon, and exits 0 printing `fail` when
    /// the daemon rejects the command: both leave the new settings on disk and not live.
    @Test(arguments: [
        CommandResult(status: 1, stdout: "", stderr: "timeout receiving packet"),
        CommandResult(status: 0, stdout: "fail\n", stderr: ""),
    ])
    func aFailedReconfigureIsAFailedApply(_ reply: CommandResult) async throws {
        let host = try TempHost()
        let runner = FakeCommandRunner([Self.reconfigure: reply])
        let plan = try host.plan(site())
        let outcome = try await host.applier(runner).apply(plan, updateNodeRecords: false)
        #expect(outcome.failures.count == 1)
        let failure = try #require(outcome.failures.first)
        #expect(failure.contains("multipathd reconfigure failed (exit \(reply.status)"))
        #expect(failure.contains("NOT live"))
        #expect(failure.contains("`multipathd reconfigure`") && failure.contains("`sanpath rollback`"))
        #expect(failure.contains(reply.status == 0 ? "multipathd said: fail" : "timeout receiving packet"))
        // the files stay written: they are the wanted state, and the record lets rollback undo them
        #expect(try host.fileSystem.read("/etc/multipath.conf") == Array(plan.files[0].after.joined.utf8))
        #expect(outcome.record?.status == .complete)
    }

    @Test func aReconfigureThatSaysOKIsNoFailure() async throws {
        let host = try TempHost()
        let runner = FakeCommandRunner([Self.reconfigure: CommandResult(status: 0, stdout: "ok\n", stderr: "")])
        let outcome = try await host.applier(runner).apply(try host.plan(site()), updateNodeRecords: false)
        #expect(outcome.failures.isEmpty)
        #expect(outcome.actions.contains("multipathd reconfigure: ok"))
    }

    @Test func aStoppedMultipathdIsNoFailure() async throws {
        let host = try TempHost()
        let runner = FakeCommandRunner([["multipathd", "show", "daemon"]: CommandResult(status: 1, stdout: "", stderr: "can't connect")])
        let outcome = try await host.applier(runner).apply(try host.plan(site()), updateNodeRecords: false)
        #expect(outcome.failures.isEmpty)
        #expect(!runner.argvs.contains(Self.reconfigure))
    }

    /// A new udev rule: reload the rules, replay them for the multipath maps (only those), wait.
    @Test func aUdevRuleChangeReloadsTriggersAndSettlesInOrder() async throws {
        let host = try TempHost()
        let trigger = ["udevadm", "trigger", "--verbose", "--action=change", "--subsystem-match=block", "--property-match=DM_UUID=mpath-*"]
        let runner = FakeCommandRunner([
            trigger: CommandResult(status: 0, stdout: "/sys/devices/virtual/block/dm-0\n/sys/devices/virtual/block/dm-2\n", stderr: "")
        ])
        let outcome = try await host.applier(runner).apply(try host.plan(site()), updateNodeRecords: false)
        #expect(runner.argvs.filter { $0.first == "udevadm" } == [["udevadm", "control", "--reload"], trigger, ["udevadm", "settle", "--timeout=30"]])
        #expect(outcome.actions.contains("udev rules replayed for 2 multipath maps (change event): dm-0, dm-2"))
        #expect(outcome.failures.isEmpty)
    }

    @Test func aHostWithoutMapsTriggersNothingAndThatIsFine() async throws {
        let host = try TempHost()
        let outcome = try await host.applier(FakeCommandRunner()).apply(try host.plan(site()), updateNodeRecords: false)
        #expect(outcome.actions.contains("udev rules replayed: no multipath map on this host (DM_UUID=mpath-*)"))
        #expect(outcome.failures.isEmpty)
    }

    /// A failed trigger is a failure like a failed reconfigure; settle is not run after it.
    @Test func aFailedTriggerIsAFailedApply() async throws {
        let host = try TempHost()
        let trigger = ["udevadm", "trigger", "--verbose", "--action=change", "--subsystem-match=block", "--property-match=DM_UUID=mpath-*"]
        let runner = FakeCommandRunner([trigger: CommandResult(status: 1, stdout: "", stderr: "Failed to scan devices")])
        let outcome = try await host.applier(runner).apply(try host.plan(site()), updateNodeRecords: false)
        #expect(outcome.failures.count == 1)
        #expect(outcome.failures.first?.contains("Failed to scan devices") == true)
        #expect(outcome.failures.first?.contains("retry with `udevadm trigger --verbose --action=change --subsystem-match=block '--property-match=DM_UUID=mpath-*' && udevadm settle --timeout=30`") == true)
        #expect(!runner.argvs.contains(["udevadm", "settle", "--timeout=30"]))
    }

    @Test func noReloadUnderARoot() async throws {
        let host = try TempHost()
        let runner = FakeCommandRunner()
        let outcome = try await host.applier(runner, liveHost: false).apply(try host.plan(site()), updateNodeRecords: false)
        #expect(runner.argvs.isEmpty)
        #expect(outcome.actions == ["no reload (--root or --no-reload)"])
        #expect(outcome.failures.isEmpty)
    }

    /// Rollback's reload fails the same way.
    @Test func aFailedReconfigureAfterRollbackIsAFailedRollback() async throws {
        let host = try TempHost()
        _ = try await host.applier(FakeCommandRunner()).apply(try host.plan(site()), updateNodeRecords: false)
        let runner = FakeCommandRunner([Self.reconfigure: CommandResult(status: 0, stdout: "fail\n", stderr: "")])
        let outcome = try await host.applier(runner).rollback(force: false)
        #expect(outcome.record.status == .rolledBack)
        #expect(outcome.failures.count == 1)
        #expect(outcome.failures.first?.contains("restored multipath settings are on disk but NOT live") == true)
    }
}

@Suite struct SecretFileModeTests {
    /// A new iscsid.conf is 0600 when it holds a CHAP secret, as `render` writes it; 0644 otherwise.
    @Test(arguments: [(chap as CHAPCredentials?, 0o600), (nil, 0o644)])
    func aNewISCSIDConfIsPrivateWhenItHoldsASecret(_ credentials: CHAPCredentials?, _ mode: Int) async throws {
        let host = try TempHost()
        let plan = try host.plan(site(chap: credentials))
        let iscsid = try #require(plan.files.first { $0.kind == .iscsidConf })
        #expect(iscsid.before == nil)
        #expect(iscsid.holdsSecret == (credentials != nil))
        #expect(iscsid.newFileMode == UInt32(mode))
        #expect(iscsid.diagnostics.isEmpty)
        _ = try await host.applier(FakeCommandRunner(), liveHost: false).apply(plan, updateNodeRecords: false)
        #expect(try host.mode("/etc/iscsi/iscsid.conf") == mode)
        // iface files stay 0600 either way, as iscsiadm makes them
        #expect(try host.mode("/etc/iscsi/ifaces/iface0") == 0o600)
    }

    /// Debian's stock iscsid.conf (0644, CHAP lines commented) gains the site's CHAP secret: apply
    /// narrows it to 0600 and plan says so; rollback puts the old file back with its old mode.
    @Test func anExistingWideISCSIDConfGainingASecretIsNarrowedAndReported() async throws {
        let host = try TempHost()
        try host.put("/etc/iscsi/iscsid.conf", stockISCSIDConf, mode: 0o644)
        let plain = try host.plan(site())
        #expect(plain.files.first { $0.kind == .iscsidConf }?.holdsSecret == false, "commented placeholders are no secret")

        let plan = try host.plan(site(chap: chap))
        let iscsid = try #require(plan.files.first { $0.kind == .iscsidConf })
        #expect(iscsid.isChanged)
        #expect(iscsid.holdsSecret)
        #expect(iscsid.writeInfo.mode == 0o600)
        #expect(iscsid.writeInfo.uid == iscsid.existingInfo?.uid && iscsid.writeInfo.gid == iscsid.existingInfo?.gid)
        let warning = try #require(iscsid.diagnostics.first { $0.message.contains("CHAP secret") })
        #expect(warning.severity == .warning)
        #expect(warning.location.source == host.fileSystem.resolve("/etc/iscsi/iscsid.conf"))
        #expect(warning.message == "\(host.fileSystem.resolve("/etc/iscsi/iscsid.conf")) is mode 0644 and will hold a CHAP secret: apply narrows it to 0600 (owner kept)")
        #expect(!warning.message.contains(chap.password))

        let outcome = try await host.applier(FakeCommandRunner(), liveHost: false).apply(plan, updateNodeRecords: false)
        #expect(try host.mode("/etc/iscsi/iscsid.conf") == 0o600)
        #expect(outcome.record?.files.first { $0.path == "/etc/iscsi/iscsid.conf" }?.info?.mode == 0o644, "the record keeps the old mode for rollback")

        // planned again: nothing to change, nothing to warn about
        let again = try host.plan(site(chap: chap))
        #expect(again.files.first { $0.kind == .iscsidConf }.map { !$0.isChanged && $0.diagnostics.isEmpty } == true)

        _ = try await host.applier(FakeCommandRunner(), liveHost: false).rollback(force: false)
        #expect(try host.mode("/etc/iscsi/iscsid.conf") == 0o644)
        #expect(try host.fileSystem.read("/etc/iscsi/iscsid.conf") == Array(stockISCSIDConf.utf8))
    }

    /// A host whose 0644 iscsid.conf already holds the secret (an older sanpath wrote it so): the
    /// plan has no content change, and says how to close it.
    @Test func anUnchangedWideISCSIDConfWithASecretIsReported() async throws {
        let host = try TempHost()
        let plan = try host.plan(site(chap: chap))
        let text = try #require(plan.files.first { $0.kind == .iscsidConf }).after.joined
        try host.put("/etc/iscsi/iscsid.conf", text, mode: 0o644)
        let iscsid = try #require(try host.plan(site(chap: chap)).files.first { $0.kind == .iscsidConf })
        #expect(!iscsid.isChanged)
        #expect(iscsid.diagnostics.map(\.message) == [
            "\(host.fileSystem.resolve("/etc/iscsi/iscsid.conf")) holds a CHAP secret and is mode 0644: others can read it; run chmod go-rwx \(host.fileSystem.resolve("/etc/iscsi/iscsid.conf"))"
        ])
    }
}
