import Foundation
import Logging
import SanpathCore
import SanpathHost
import SanpathSite
import SanpathSystem
import SanpathTestSupport
import Testing

@testable import SanpathVolume

/// The CHAP secret reaches the node record file (kept 0600), never an argv; the record gets the
/// manual start and scan and the bounded login.
@Suite struct NodeRecordTests {
    @Test func theSecretGoesIntoTheRecordFileNotOnAnArgv() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("records-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("etc/iscsi/nodes/iqn.2001-05.com.equallogic:0-8a0906-lab-t0")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // what iscsiadm -o new wrote in the lab (abridged): the file ADDR,PORT with the iface inside
        let record = folder.appendingPathComponent("192.0.2.2,3260")
        try Data("# BEGIN RECORD 2.1.8\nnode.name = iqn.2001-05.com.equallogic:0-8a0906-lab-t0\niface.iscsi_ifacename = iface0\nnode.startup = automatic\nnode.session.auth.authmethod = None\nnode.conn[0].timeo.login_timeout = 15\n# END RECORD\n".utf8).write(to: record)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: record.path)
        let runner = FakeCommandRunner()
        let host = VolumeHost(
            sysfs: SysfsReader(root: root.appendingPathComponent("sys").path), files: LocalFileSystem(root: root.path), runner: runner,
            attributes: SysfsAttributeWriter(), events: NoEvents(), iscsiDatabase: "/etc/iscsi", logger: Logger(label: "test"))
        let path = try #require(host.nodeRecord(target: "iqn.2001-05.com.equallogic:0-8a0906-lab-t0", portal: PortalAddress(host: "192.0.2.2", port: 3260), iface: "iface0"))
        #expect(host.nodeRecord(target: "iqn.2001-05.com.equallogic:0-8a0906-lab-t0", portal: PortalAddress(host: "192.0.2.2", port: 3260), iface: "iface1") == nil)
        let secret = "Vol-CHAP-secret-1234"
        try VolumeAttacher(host: host, interfaces: [], loginTimeout: 8).writeRecordSettings(path, chap: CHAPCredentials(username: "euca", password: secret))
        let text = try String(contentsOf: record, encoding: .utf8)
        for line in [
            "node.startup = manual", "node.session.scan = manual", "node.conn[0].timeo.login_timeout = 8",
            "node.session.initial_login_retry_max = 1", "node.session.auth.authmethod = CHAP", "node.session.auth.password = \(secret)",
        ] {
            #expect(text.contains(line + "\n"), "missing \(line)")
        }
        let mode = try FileManager.default.attributesOfItem(atPath: record.path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        #expect(!runner.argvs.joined().joined(separator: " ").contains(secret))
    }
}
