import Foundation
import SanpathCore
import Testing

/// The plan's JSON, as scripts and Ansible read it.
struct PlanJSON: Decodable {
    struct File: Decodable {
        var path: String
        var action: String
        var changed: Bool
        var changes: [ChangeJSON]
        var diff: String
    }
    struct ChangeJSON: Decodable {
        var section: String?
        var key: String
        var old: String?
        var new: String?
        var reason: String
        var line: Int?
    }
    var changed: Bool
    var files: [File]
}

enum Corpus {
    static let directory = SanpathBinary.repository.appendingPathComponent("Tests/SanpathCLITests/Corpus")

    static var cases: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }
    static var valid: [String] { cases.filter { !$0.hasPrefix("malformed-") } }
    static var malformed: [String] { cases.filter { $0.hasPrefix("malformed-") } }

    /// Every CHAP secret written anywhere in the corpus: none may ever be printed.
    static let secrets = [
        "NewChapSecret-2026", "OldChapSecret-2013", "MutualChapSecret99", "DiscoverySecret77", "NodeRecordSecret42",
    ]

    static func siteArguments(_ tree: HostTree) -> [String] {
        ["--root", tree.root.path, "--site", tree.root.appendingPathComponent("etc/sanpath/site.toml").path]
    }
}

@Suite(.serialized) struct CorpusTests {
    @Test func theCorpusCoversEnoughShapes() {
        #expect(Corpus.valid.count >= 12)
        #expect(Corpus.malformed.count >= 4)
    }

    /// plan → apply → plan exits 2, 0, 0; only the lines the plan lists change; rollback restores
    /// every file byte for byte; no secret is ever printed.
    @Test(arguments: Corpus.valid)
    func planApplyPlanRollback(_ name: String) throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("\(name)/root"))
        defer { tree.remove() }
        let site = Corpus.siteArguments(tree)
        if FileManager.default.fileExists(atPath: tree.root.appendingPathComponent("etc/iscsi/iscsid.conf").path) {
            try FileManager.default.setAttributes(
                [.posixPermissions: 0o640], ofItemAtPath: tree.root.appendingPathComponent("etc/iscsi/iscsid.conf").path)
        }
        let original = try tree.files()
        var printed = ""

        let first = try SanpathBinary.run(["plan", "--format", "json"] + site)
        printed += first.all
        #expect(first.status == 2, "\(first.stderr)")
        let plan = try JSONDecoder().decode(PlanJSON.self, from: Data(first.stdout.utf8))
        #expect(plan.changed)

        let apply = try SanpathBinary.run(["apply", "--update-node-records"] + site)
        printed += apply.all
        #expect(apply.status == 0, "\(apply.all)")

        let again = try SanpathBinary.run(["plan"] + site)
        printed += again.all
        #expect(again.status == 0, "second plan is not empty:\n\(again.stdout)")
        let againJSON = try SanpathBinary.run(["plan", "--format", "json"] + site)
        #expect(try JSONDecoder().decode(PlanJSON.self, from: Data(againJSON.stdout.utf8)).changed == false)

        // every line outside the plan's changes is byte-identical (line endings included)
        let applied = try tree.files(skipping: "var/lib/sanpath")
        for file in plan.files where file.action == "modify" {
            let relative = String(file.path.dropFirst())
            let before = TextLines(splitting: String(decoding: original[relative] ?? Data(), as: UTF8.self)).lines
            let after = TextLines(splitting: String(decoding: applied[relative] ?? Data(), as: UTF8.self)).lines
            let changedLines = Set(file.changes.compactMap(\.line))
            for change in after.difference(from: before) {
                guard case .remove(let offset, let line, _) = change else { continue }
                // a file without a final newline gets one when sanpath appends after its last line
                let onlyGainedNewline =
                    offset == before.count - 1 && line.ending == .none && after.contains { $0.text == line.text && $0.ending != .none }
                #expect(
                    changedLines.contains(offset + 1) || onlyGainedNewline,
                    "\(name): \(file.path) line \(offset + 1) changed but the plan lists no change for it: \(line.text)")
            }
        }
        if original["etc/iscsi/iscsid.conf"] != nil {
            // apply keeps the mode, except that a file holding a CHAP secret is narrowed to 0600, and the plan says so
            let holdsSecret = String(decoding: applied["etc/iscsi/iscsid.conf"] ?? Data(), as: UTF8.self)
                .split(whereSeparator: \.isNewline).contains { line in
                    let setting = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    return !line.trimmingCharacters(in: .whitespaces).hasPrefix("#") && setting.count == 2
                        && setting[0].contains(".auth.password") && !setting[1].isEmpty
                }
            #expect(try tree.mode("etc/iscsi/iscsid.conf") == (holdsSecret ? 0o600 : 0o640), "\(name): apply must keep the mode")
            #expect(
                apply.stdout.contains("is mode 0640 and will hold a CHAP secret: apply narrows it to 0600 (owner kept)") == holdsSecret,
                "\(name): the plan must say when apply narrows the mode")
        }

        let rollback = try SanpathBinary.run(["rollback", "--root", tree.root.path])
        printed += rollback.all
        #expect(rollback.status == 0, "\(rollback.all)")
        let restored = try tree.files(skipping: "var/lib/sanpath")
        #expect(restored == original, "\(name): rollback did not restore the files byte for byte")
        if original["etc/iscsi/iscsid.conf"] != nil {
            #expect(try tree.mode("etc/iscsi/iscsid.conf") == 0o640)
        }

        for secret in Corpus.secrets {
            #expect(!printed.contains(secret), "\(name): a CHAP secret was printed")
        }
    }

    /// A file that does not parse: plan and apply exit 1 naming file:line:col, and nothing is touched.
    @Test(arguments: Corpus.malformed)
    func malformedFilesStopEverything(_ name: String) throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("\(name)/root"))
        defer { tree.remove() }
        let expected = try String(
            contentsOf: Corpus.directory.appendingPathComponent("\(name)/expected-error"), encoding: .utf8
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        let before = try tree.files()
        let site = Corpus.siteArguments(tree)
        for verb in ["plan", "apply"] {
            let result = try SanpathBinary.run([verb] + site)
            #expect(result.status == 1, "\(verb): \(result.all)")
            #expect(result.stderr.contains(expected), "\(verb) must name \(expected):\n\(result.stderr)")
        }
        let json = try SanpathBinary.run(["plan", "--format", "json"] + site)
        #expect(json.status == 1)
        #expect(json.stdout.contains("\"changed\" : false"))
        #expect(try tree.files() == before, "a malformed host must be left untouched")
        #expect(!FileManager.default.fileExists(atPath: tree.root.appendingPathComponent("var/lib/sanpath").path))
    }

    @Test func chapSecretsAreMaskedButWritten() throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("chap/root"))
        defer { tree.remove() }
        let site = Corpus.siteArguments(tree)
        let plan = try SanpathBinary.run(["plan"] + site)
        #expect(plan.stdout.contains("node.session.auth.password ******** -> ********"))
        for secret in Corpus.secrets { #expect(!plan.all.contains(secret)) }
        let rendered = try SanpathBinary.run(["render"] + site.filter { $0 != "--root" && $0 != tree.root.path })
        for secret in Corpus.secrets { #expect(!rendered.all.contains(secret)) }
        #expect(try SanpathBinary.run(["apply", "--update-node-records"] + site).status == 0)
        let written = try String(contentsOf: tree.root.appendingPathComponent("etc/iscsi/iscsid.conf"), encoding: .utf8)
        #expect(written.contains("node.session.auth.password = NewChapSecret-2026\n"))
        // the discovery line open-iscsi skipped (no space before '=') is now readable
        #expect(written.contains("discovery.sendtargets.auth.password = DiscoverySecret77\n"))
        let record = try String(
            contentsOf: tree.root.appendingPathComponent(
                "etc/iscsi/nodes/iqn.2001-05.com.equallogic:0-af1ff6-vol-1/10.107.1.200,3260,1/iface0"), encoding: .utf8)
        #expect(record.contains("node.session.timeo.replacement_timeout = 15\n"))
        // Eucalyptus writes the volume's CHAP user and secret per record: not drift
        #expect(record.contains("node.session.auth.password = NodeRecordSecret42\n"))
    }
}

/// Settings that parse but are wrong for the field, in hosts' old files: each is reported with
/// its line, and migrated or explained.
@Suite(.serialized) struct FieldSettingsTests {
    func plan(_ name: String) throws -> (PlanJSON, String) {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("\(name)/root"))
        defer { tree.remove() }
        let site = Corpus.siteArguments(tree)
        let json = try SanpathBinary.run(["plan", "--format", "json"] + site)
        #expect(json.status == 2, "\(json.stderr)")
        return (try JSONDecoder().decode(PlanJSON.self, from: Data(json.stdout.utf8)), try SanpathBinary.run(["plan"] + site).stdout)
    }

    /// The kernel resets a repeat count above 1: rr_min_io_rq and rr_min_io are commented out on
    /// their lines with that reason; round-robin becomes the profile's service-time; queue
    /// becomes the NC's bounded 30; a kernel-name blacklist of sd disks is a warning on its line.
    @Test func repeatCountsAndKernelNameBlacklists() throws {
        let (plan, text) = try plan("rr-min-io-sd-blacklist")
        let changes = try #require(plan.files.first { $0.path == "/etc/multipath.conf" }).changes
        let rq = try #require(changes.first { $0.key == "rr_min_io_rq" })
        #expect(rq.line == 18 && rq.new == nil && rq.reason.contains("repeat_count > 1 is deprecated, using 1 instead"))
        let bio = try #require(changes.first { $0.key == "rr_min_io" })
        #expect(bio.line == 19 && bio.new == nil && bio.reason.contains("bio-based"))
        #expect(changes.contains { $0.key == "path_selector" && $0.line == 17 && $0.new == "service-time 0" })
        #expect(changes.contains { $0.key == "no_path_retry" && $0.line == 22 && $0.old == "queue" && $0.new == "30" })
        #expect(text.contains("multipath.conf:8:10: blacklist devnode \"^sd[a]$\" names SCSI disks by kernel name (it matches sda)"))
        // another array's section is the admin's: its dead repeat count is a warning on its line, kept
        #expect(!changes.contains { $0.line == 28 })
        #expect(text.contains("multipath.conf:28:16: rr_min_io_rq 100 does nothing"))
        // the WWID and the non-disk devnode lines draw nothing
        #expect(!text.contains("multipath.conf:9:"))
        #expect(!text.contains("multipath.conf:10:"))
    }

    /// VNX: a fixed prio alua and hardware_handler "1 alua" are taken out (commented, with the
    /// reason) so each LUN's failover mode decides; the admin's checker stays.
    @Test func vnxFixedPrioIsTakenOut() throws {
        let (plan, _) = try plan("vnx-fixed-prio")
        let file = try #require(plan.files.first { $0.path == "/etc/multipath.conf" })
        let prio = try #require(file.changes.first { $0.key == "prio" })
        #expect(prio.line == 11 && prio.new == nil && prio.reason.contains("PNR"))
        let handler = try #require(file.changes.first { $0.key == "hardware_handler" })
        #expect(handler.line == 10 && handler.new == nil)
        #expect(!file.changes.contains { $0.key == "path_checker" })
        #expect(file.diff.contains("+\t\t# prio alua"))
    }
}

@Suite struct UdevRuleOrderTests {
    /// Debian's dm rules are 55-dm.rules: the permissions rule must come after them, or udev
    /// jumps past it before DM_UUID is known (seen in the lab: the maps stayed root:disk).
    @Test func theRuleSortsAfterTheHostsDeviceMapperRules() throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("debian-udev-order/root"))
        defer { tree.remove() }
        let site = Corpus.siteArguments(tree)
        let plan = try SanpathBinary.run(["plan"] + site)
        #expect(plan.stdout.contains("etc/udev/rules.d/57-dm-permissions.rules (create"))
        #expect(plan.stdout.contains("12-dm-permissions.rules sorts elsewhere and does not own the maps"))
        #expect(try SanpathBinary.run(["apply"] + site).status == 0)
        let rule = try String(contentsOf: tree.root.appendingPathComponent("etc/udev/rules.d/57-dm-permissions.rules"), encoding: .utf8)
        #expect(rule.contains("after the distribution's\n# device-mapper rules (55-dm.rules)"))
    }

    @Test func withoutUdevRulesItIsEucalyptusName() throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("distro-default/root"))
        defer { tree.remove() }
        let plan = try SanpathBinary.run(["plan"] + Corpus.siteArguments(tree))
        #expect(plan.stdout.contains("etc/udev/rules.d/12-dm-permissions.rules (create"))
    }
}
