import Foundation
import Logging
import SanpathCore
import SanpathHost
import SanpathSystem
import SanpathTestSupport
import Testing

@testable import SanpathVolume

/// open-iscsi before 2.1.10 lets two iscsiadm started at once lose the race for its lock directory;
/// the attach makes both paths' node records at once, and the lab's volume scenario lost it once.
@Suite struct IscsiadmLockRaceTests {
    /// iscsiadm's words in the lab (open-iscsi 2.1.8, Debian 12), `-o new` on the first path.
    static let lost = CommandResult(
        status: 3, stdout: "", stderr: "iscsiadm: Could not open /run/lock/iscsi: File exists\niscsiadm: Could not read iface info for iface0.\n")
    static let argv = ["iscsiadm", "-m", "node", "-T", "iqn.2001-05.com.equallogic:0-8a0906-lab-t0", "-p", "192.0.2.2:3260", "-I", "iface0", "-o", "new"]

    func host(_ runner: FakeCommandRunner) -> VolumeHost {
        VolumeHost(
            sysfs: SysfsReader(root: "/nonexistent-sys"), files: LocalFileSystem(root: "/nonexistent-root"), runner: runner,
            attributes: SysfsAttributeWriter(), events: NoEvents(), iscsiDatabase: "/etc/iscsi", logger: Logger(label: "test"))
    }

    @Test("a lost lock-directory race is run again, once, and its second answer counts")
    func raceIsRunAgain() async throws {
        let runner = FakeCommandRunner(sequences: [Self.argv: [Self.lost, CommandResult(status: 0, stdout: "New iSCSI node [tcp:...] added\n", stderr: "")]])
        let result = try await host(runner).iscsiadm(Array(Self.argv.dropFirst()), timeoutSeconds: 30)
        #expect(result.succeeded)
        #expect(runner.argvs == [Self.argv, Self.argv])
    }

    @Test("lost twice: the second failure is what the caller sees; no third run")
    func lostTwice() async throws {
        let runner = FakeCommandRunner(sequences: [Self.argv: [Self.lost, Self.lost]])
        let result = try await host(runner).iscsiadm(Array(Self.argv.dropFirst()), timeoutSeconds: 30)
        #expect(!result.succeeded && result.stderr.contains("/run/lock/iscsi"))
        #expect(runner.argvs.count == 2)
    }

    @Test("any other failure is not run again", arguments: [
        "iscsiadm: initiator reported error (8 - connection timed out)\n", "iscsiadm: Could not open /etc/iscsi/nodes: Permission denied\n",
        "iscsiadm: No records found\n",
    ])
    func otherFailures(stderr: String) async throws {
        let runner = FakeCommandRunner(sequences: [Self.argv: [CommandResult(status: 8, stdout: "", stderr: stderr)]])
        let result = try await host(runner).iscsiadm(Array(Self.argv.dropFirst()), timeoutSeconds: 30)
        #expect(result.status == 8)
        #expect(runner.argvs.count == 1)
    }

    @Test("the race's words, in 2.1.8's and in later builds' form")
    func words() {
        #expect(VolumeHost.lostLockDirectoryRace("iscsiadm: Could not open /run/lock/iscsi: File exists\n"))
        #expect(VolumeHost.lostLockDirectoryRace("iscsiadm: Could not open /var/lock/iscsi: 17: File exists"))
        #expect(!VolumeHost.lostLockDirectoryRace("iscsiadm: Could not open/create lock file: /run/lock/iscsi/lock"))
        #expect(!VolumeHost.lostLockDirectoryRace(""))
    }
}
