import Foundation
import SanpathProfiles
import SanpathProvision
import Testing

/// Where open-iscsi's ifaces and node records are, for provisioning and the volume code alike.
/// The lab's Debian 13 guest: trixie's open-iscsi ships /var/lib/iscsi and makes nodes/ only with
/// the first record, so `volume attach` looked for its records under /etc/iscsi/nodes there.
@Suite struct ISCSIDatabaseTests {
    @Test(arguments: [
        ([String](), [String](), ISCSIDatabase.etc),
        (["/etc/iscsi/iscsid.conf"], [], ISCSIDatabase.etc),
        (["/etc/iscsi/iscsid.conf"], ["/var/lib/iscsi"], ISCSIDatabase.varLib),
        (["/etc/iscsi/iscsid.conf", "/var/lib/iscsi/ifaces/iface0"], [], ISCSIDatabase.varLib),
        (["/etc/iscsi/iscsid.conf", "/etc/iscsi/nodes/iqn.2001-05.com.equallogic:0-8a0906-vol1/10.107.1.200,3260"], ["/var/lib/iscsi"], ISCSIDatabase.etc),
    ])
    func theFolderWithTheRecordsElseTheOneThePackageShips(_ files: [String], _ emptyDirectories: [String], _ want: String) throws {
        let host = try TempHost()
        for file in files { try host.put(file, "", mode: 0o600) }
        for directory in emptyDirectories {
            try FileManager.default.createDirectory(
                at: host.root.appendingPathComponent(String(directory.dropFirst())), withIntermediateDirectories: true)
        }
        #expect(Planner.iscsiDatabase(on: host.fileSystem) == want)
    }
}
