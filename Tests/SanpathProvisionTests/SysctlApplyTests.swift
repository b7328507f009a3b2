import Foundation
import SanpathCore
import SanpathHost
import SanpathProvision
import SanpathTestSupport
import Testing

/// EqualLogic hosts with two iSCSI NICs get the ARP sysctl file; on a live host apply loads it.
@Suite struct SysctlApplyTests {
    static let load = ["sysctl", "-p", "/etc/sysctl.d/60-sanpath-iscsi-arp.conf"]

    @Test func applyLoadsTheARPSettings() async throws {
        let host = try TempHost()
        let plan = try host.plan(site())
        let sysctl = try #require(plan.files.first { $0.kind == .sysctl })
        #expect(sysctl.changes.contains { $0.new == "net.ipv4.conf.eth1.arp_ignore = 1" && $0.reason.contains("ARP") })
        let runner = FakeCommandRunner()
        let outcome = try await host.applier(runner).apply(plan, updateNodeRecords: false)
        #expect(runner.argvs.contains(Self.load))
        #expect(outcome.actions.contains { $0.contains("ARP settings of the iSCSI NICs are live") })
        #expect(outcome.failures.isEmpty)
    }

    /// A kernel that refuses a key (a NIC that is gone) fails the apply and says how to retry.
    @Test func aRefusedSysctlIsAFailedApply() async throws {
        let host = try TempHost()
        let runner = FakeCommandRunner([
            Self.load: CommandResult(status: 255, stdout: "", stderr: "sysctl: cannot stat /proc/sys/net/ipv4/conf/eth1/arp_ignore: No such file or directory")
        ])
        let outcome = try await host.applier(runner).apply(try host.plan(site()), updateNodeRecords: false)
        #expect(outcome.failures.count == 1)
        #expect(outcome.failures.first?.contains("cannot stat /proc/sys/net/ipv4/conf/eth1/arp_ignore") == true)
        #expect(outcome.failures.first?.contains("not live until `sysctl -p") == true)
    }
}
