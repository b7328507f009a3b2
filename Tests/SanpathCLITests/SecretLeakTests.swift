import Foundation
import Testing

/// Every command run with CHAP secrets in its inputs (site file, iscsid.conf, node records, a
/// secret file): no secret in any output, log line (-v), error, argv, or file readable beyond
/// its owner; sanpath's own state is 0600 files in 0700 folders.
@Suite(.serialized) struct SecretLeakTests {
    static let secrets = Corpus.secrets + ["AttachSecret-Xy9"]

    /// A file holding a secret anywhere under `root`, readable by group or others.
    static func widelyReadableSecrets(under root: URL) throws -> [String] {
        var wide: [String] = []
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            guard try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true else { continue }
            let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
            // the admin's own inputs are theirs to protect
            guard secrets.contains(where: text.contains), !url.path.hasSuffix("etc/sanpath/site.toml") else { continue }
            let mode = (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int) ?? 0o777
            if mode & 0o077 != 0 { wide.append("\(url.path) \(String(mode, radix: 8))") }
        }
        return wide
    }

    /// Modes under var/lib/sanpath wider than 0600 for files, 0700 for folders.
    static func wideState(under root: URL) throws -> [String] {
        let state = root.appendingPathComponent("var/lib/sanpath")
        var wide: [String] = []
        let enumerator = FileManager.default.enumerator(at: state, includingPropertiesForKeys: [.isDirectoryKey])
        while let url = enumerator?.nextObject() as? URL {
            let mode = (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int) ?? 0o777
            let isDirectory = try url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory == true
            if mode & ~(isDirectory ? 0o700 : 0o600) != 0 { wide.append("\(url.path) \(String(mode, radix: 8))") }
        }
        return wide
    }

    @Test func noCommandShowsASecret() throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("chap/root"))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-render-\(UUID().uuidString)")
        let secretFile = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-secret-\(UUID().uuidString)")
        defer {
            tree.remove()
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: secretFile)
        }
        try Data("AttachSecret-Xy9\n".utf8).write(to: secretFile)
        let siteFile = tree.root.appendingPathComponent("etc/sanpath/site.toml").path
        let site = Corpus.siteArguments(tree)
        let status = StatusCommandTests.fixtures.appendingPathComponent("degraded").path
        let runs: [[String]] = [
            ["render", "--site", siteFile, "-v"],
            ["render", "--site", siteFile, "--out", out.path],
            ["plan", "-v"] + site,
            ["plan", "--format", "json"] + site,
            ["apply", "-v", "--update-node-records"] + site,
            ["plan", "-v"] + site,
            ["rollback", "-v", "--root", tree.root.path],
            ["rollback", "-v", "--root", tree.root.path],  // nothing left: an error
            ["apply", "--update-node-records"] + site,
            ["status", "-v", "--root", status, "--site", siteFile, "--no-probe", "--format", "json"]
                + StatusCommandTests.site,
            ["status", "--root", status, "--site", siteFile, "--no-probe"] + StatusCommandTests.site,
        ]
        // the volume verbs take no --templates
        let volumeRuns: [[String]] = [
            ["volume", "list", "--root", status, "--format", "json"],
            // attach and detach, stopped by their arguments before any kernel is needed
            ["volume", "attach", "--site", siteFile, "--chap-secret-file", secretFile.path, "--target", "iqn.2001-05.com.example:v",
             "--lun", "1", "--portal", "iface0:not an address"],
            ["volume", "attach", "--site", siteFile, "--chap-secret-file", secretFile.path, "--connect-string", "garbage"],
            ["volume", "attach", "--site", siteFile, "--chap-secret-file", secretFile.path, "--target", "iqn.x", "--lun", "1"],
            ["volume", "detach", "--unexport", secretFile.path],
        ]
        var exits: [String] = []
        for argv in runs + volumeRuns {
            let result = try SanpathBinary.run(argv, templates: argv.first != "volume")
            exits.append("\(argv.prefix(2).joined(separator: " ")): \(result.status)")
            for secret in Self.secrets {
                #expect(!result.all.contains(secret), "\(argv.joined(separator: " ")) printed a secret:\n\(result.all)")
            }
            // the argv sanpath ran with: secrets come from files, never from the command line
            #expect(!argv.contains { arg in Self.secrets.contains(where: arg.contains) })
        }
        // the runs did what they should, so that the outputs checked are the real ones
        #expect(exits == [
            "render --site: 0", "render --site: 0", "plan -v: 2", "plan --format: 2", "apply -v: 0", "plan -v: 0",
            "rollback -v: 0", "rollback -v: 1", "apply --update-node-records: 0", "status -v: 0", "status --root: 0",
            "volume list: 0", "volume attach: 1", "volume attach: 1", "volume attach: 1", "volume detach: 1",
        ])
        // the secrets were really in what sanpath wrote, and only its owner can read them
        let iscsid = try String(contentsOf: tree.root.appendingPathComponent("etc/iscsi/iscsid.conf"), encoding: .utf8)
        #expect(iscsid.contains("NewChapSecret-2026"))
        let wide = try Self.widelyReadableSecrets(under: tree.root) + Self.widelyReadableSecrets(under: out) + Self.wideState(under: tree.root)
        #expect(wide.isEmpty, "readable beyond the owner: \(wide)")
    }
}
