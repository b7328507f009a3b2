import Foundation
import PropertyBased
import SanpathConfig
import SanpathCore
import SanpathProfiles
import SanpathProvision
import SanpathSite
import Testing

let templates = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("templates").path

func pick(_ values: [String]) -> Generator<String, Shrink.None<String?>> {
    Gen<String?>.element(of: values).map { $0 ?? "" }
}

/// Random but well-formed multipath.conf files built from what admins really write: several
/// arrays, the profile's own array with odd settings, deprecated 2013 keywords, comments,
/// duplicate keys, CRLF, a missing final newline.
enum MultipathShapes {
    static let indent = pick(["\t", "    ", "  ", "\t\t"])
    static let setting = zip(
        pick([
            "polling_interval 5", "user_friendly_names yes", "find_multipaths yes", "no_path_retry fail",
            "getuid_callout \"/sbin/scsi_id -g -u -s /block/%n\"", "features \"1 queue_if_no_path\"",
            "path_checker readsector0", "selector \"round-robin 0\"", "udev_dir /dev", "path_grouping_policy failover",
            "rr_min_io 100", "max_fds max", "bogus_keyword 1", "flush_on_last_del yes",
        ]),
        pick(["", " # note", " ! bang"])
    ).map { t in t.0 + t.1 }
    static let vendor = pick([
        "vendor \"EQLOGIC\"\nproduct \"100E-00\"", "vendor \"NETAPP\"\nproduct \"LUN.*\"", "vendor \"DGC\"\nproduct \"*\"",
        "vendor \"HITACHI\"\nproduct \"^OPEN-\"", "vendor \"3PARdata\"\nproduct \"VV\"",
    ])
    static let device = zip(vendor, setting.array(of: 0...4), indent).map { t -> String in
        let body = (t.0.split(separator: "\n").map(String.init) + t.1).map { t.2 + t.2 + $0 }
        return "\(t.2)device {\n" + body.joined(separator: "\n") + "\n\(t.2)}"
    }
    static let section = zip(Gen<Int>.int(in: 0...2), setting.array(of: 0...4), device.array(of: 1...3), indent).map { t -> String in
        switch t.0 {
        case 0: return "defaults {\n" + t.1.map { t.3 + $0 }.joined(separator: "\n") + (t.1.isEmpty ? "" : "\n") + "}"
        case 1: return "blacklist {\n\(t.3)devnode \"^sd[a-b]$\"\n\(t.3)wwid 3600508b1001c\n}"
        default: return "devices {\n" + t.2.joined(separator: "\n") + "\n}"
        }
    }
    static let file = zip(section.array(of: 0...5), pick(["\n", "\r\n"]), Gen.bool, pick(["", "# header\n"])).map { t -> String in
        var text = t.3 + t.0.joined(separator: "\n# between\n") + (t.0.isEmpty ? "" : "\n")
        if t.1 == "\r\n" { text = text.replacingOccurrences(of: "\n", with: "\r\n") }
        if t.2, text.hasSuffix(t.1) { text.removeLast(t.1 == "\n" ? 1 : 1) }
        return text
    }
}

@Suite struct MergePropertyTests {
    let library: ProfileLibrary
    init() throws { library = try ProfileLibrary(directory: templates) }

    func rendered(_ vendor: Vendor, _ role: Role) throws -> (MultipathConf, ISCSIConf, ProfileIdentity) {
        let here = SourceLocation(source: "t")
        let site = Site(vendor: vendor, role: role, paths: [ISCSIPath(iface: nil, portal: PortalAddress(host: "10.0.0.1"), location: here)])
        let files = try library.render(site)
        let meta = library.metadata(for: vendor)
        return (
            MultipathConf(text: files.first { $0.kind == .multipathConf }!.text, source: "r"),
            ISCSIConf(text: files.first { $0.kind == .iscsidConf }!.text, source: "r"),
            ProfileIdentity(profileName: "\(vendor) \(role)", inquiryVendor: meta.inquiryVendor, inquiryProduct: meta.inquiryProduct)
        )
    }

    /// Merging twice changes nothing the second time; the result is clean for multipath-tools;
    /// every line the merge changed is one its change list names.
    @Test(arguments: Vendor.allCases)
    func multipathMergeIsIdempotentAndAccountable(_ vendor: Vendor) async throws {
        let (profile, _, identity) = try rendered(vendor, .nc)
        await propertyCheck(count: 150, input: MultipathShapes.file) { text in
            let existing = MultipathConf(text: text, source: "m")
            #expect(existing.syntaxDiagnostics.isEmpty, "generator made a broken file: \(existing.syntaxDiagnostics)")
            let once = MultipathMerge.merge(existing: existing, rendered: profile, identity: identity, version: .debian12)
            let merged = MultipathConf(lines: once.lines, source: "m")
            #expect(merged.syntaxDiagnostics.isEmpty)
            #expect(MultipathLint.findings(merged).allSatisfy { $0.edits.isEmpty }, "merge left something multipath-tools ignores")
            // the merge's own tree, parsed only where it edited, is the whole file's; and what the
            // plan's self-check lints of it (the edited entries) finds what linting all finds
            let tree = try #require(once.multipathConf)
            #expect(tree.root == merged.root)
            #expect(
                MultipathLint.findings(tree, entries: tree.editedEntries).filter { !$0.edits.isEmpty }
                    == MultipathLint.findings(merged).filter { !$0.edits.isEmpty })
            let twice = MultipathMerge.merge(existing: merged, rendered: profile, identity: identity, version: .debian12)
            #expect(twice.changes.isEmpty, "second merge still changes: \(twice.changes)")
            #expect(twice.lines == once.lines)
            let listed = Set(once.changes.compactMap(\.line))
            // of two identical lines (a duplicate key) the difference may name either as removed
            let listedTexts = Set(listed.compactMap { $0 <= existing.lines.lines.count ? existing.lines.lines[$0 - 1].text : nil })
            for change in once.lines.lines.difference(from: existing.lines.lines) {
                if case .remove(let offset, let line, _) = change, line.ending != .none {
                    #expect(
                        listed.contains(offset + 1) || listedTexts.contains(line.text),
                        "line \(offset + 1) changed without a listed change: \(line.text)")
                }
            }
            // the profile's device section is there exactly once for this array, and wins
            let devices = merged.sections(named: "devices").flatMap(\.subsections).filter { identity.matches($0) }
            #expect(!devices.isEmpty)
            let wanted = profile.sections(named: "devices").last!.subsections.last!
            for setting in wanted.settings where setting.key != "vendor" && setting.key != "product" {
                #expect(devices.last?.value(of: setting.key) == setting.value)
            }
        }
    }

    @Test func iscsiMergeIsIdempotent() async throws {
        let (_, profile, _) = try rendered(.equallogic, .sc)
        let line = pick([
            "node.startup = automatic", "node.startup=automatic", "# node.session.cmds_max = 128",
            "node.session.cmds_max = 64", "node.session.cmds_max = 2048", "", "# comment",
            "node.session.timeo.replacement_timeout = 120", "node.session.auth.password = secret-value-1",
            "  node.session.queue_depth  =  32  ", "discovery.sendtargets.iscsi.MaxRecvDataSegmentLength = 32768",
        ])
        let file = zip(line.array(of: 0...14), pick(["\n", "\r\n"]), Gen.bool).map { t -> String in
            var text = t.0.joined(separator: t.1) + (t.0.isEmpty ? "" : t.1)
            if t.2, !text.isEmpty { text.removeLast() }
            return text
        }
        await propertyCheck(count: 200, input: file) { text in
            let existing = ISCSIConf(text: text, source: "i")
            let once = ISCSIMerge.merge(existing: existing, rendered: profile, profileName: "p")
            let merged = ISCSIConf(lines: once.lines, source: "i")
            #expect(merged.syntaxDiagnostics.isEmpty)
            #expect(merged.settings.allSatisfy { $0.accepted })
            for wanted in profile.settings {
                #expect(merged.effective(wanted.key)?.value == wanted.value)
                #expect(merged.settings.filter { $0.key == wanted.key }.count == 1, "\(wanted.key) must be set once")
            }
            let twice = ISCSIMerge.merge(existing: merged, rendered: profile, profileName: "p")
            #expect(twice.changes.isEmpty)
            #expect(twice.lines == once.lines)
            #expect(once.changes.allSatisfy { !($0.new ?? "").contains("secret-value-1") && !($0.old ?? "").contains("secret-value-1") })
        }
    }
}

