import Foundation
import SanpathProvision
import Testing

/// open-iscsi 2.1.8 keeps a record made by `iscsiadm -m node -o new -I iface1` (portal group
/// unknown, Eucalyptus' way) as the plain file nodes/IQN/IP,PORT with its iface inside; the lab
/// saw `--update-node-records` run `-I default` on it and find no record.
@Suite struct NodeRecordLayoutTests {
    @Test func aPlainFileRecordNamesTheIfaceInside() async throws {
        let host = try TempHost()
        try host.put(
            "/etc/iscsi/nodes/iqn.2001-05.com.equallogic:0-af1ff6-vol-1/10.108.1.200,3260",
            "# BEGIN RECORD 2.1.8\nnode.name = iqn.2001-05.com.equallogic:0-af1ff6-vol-1\niface.iscsi_ifacename = iface1\niface.net_ifacename = eth1\nnode.session.timeo.replacement_timeout = 120\n# END RECORD\n",
            mode: 0o600)
        let stale = try host.plan(site()).staleNodeRecords
        #expect(stale.map(\.iface) == ["iface1"])
        #expect(stale.first?.portal == "10.108.1.200:3260")
        #expect(stale.first?.settings.map(\.key) == ["node.session.timeo.replacement_timeout"])
    }
}
