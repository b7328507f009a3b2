import Foundation
import SanpathConfig
import SanpathCore
import Testing

/// Debian's multipath-tools, run on sanpath's files through scripts/mpt-sandbox (private mount
/// namespace; nothing reaches the host's /etc or /dev).
enum MultipathTools {
    static let sandbox = SanpathBinary.repository.appendingPathComponent("scripts/mpt-sandbox").path

    /// Root, `multipath` and `unshare` present. With SANPATH_REQUIRE_MULTIPATH=1 (CI) a missing
    /// multipath-tools is a failure, not a skip.
    static var available: Bool {
        geteuid() == 0 && ["/sbin/multipath", "/usr/sbin/multipath"].contains { FileManager.default.isExecutableFile(atPath: $0) }
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
    }
    static var required: Bool { ProcessInfo.processInfo.environment["SANPATH_REQUIRE_MULTIPATH"] == "1" }
    static var enabled: Bool { available || required }

    struct Check {
        /// `multipath -t`: the effective configuration (built-in table merged with the file).
        var effective: MultipathConf
        /// What multipath-tools complained about, line numbers and timestamps removed.
        var complaints: [String]
    }

    static func check(_ text: String) throws -> Check {
        #expect(available, "multipath-tools or root missing: install multipath-tools (SANPATH_REQUIRE_MULTIPATH=1)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("mpt-\(UUID().uuidString).conf")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: sandbox)
        process.arguments = [file.path, "-t", "-v2"]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let complaints = String(decoding: stderr, as: UTF8.self).split(separator: "\n").map(String.init).filter {
            ["invalid", "missing", "ignoring", "deprecated", "parsing", "unmatched", "expecting", "can't parse", "duplicate"]
                .contains(where: $0.contains)
        }.map(normalize)
        return Check(effective: MultipathConf(text: String(decoding: stdout, as: UTF8.self), source: "multipath -t"), complaints: complaints)
    }

    /// Drops the timestamp and line numbers, so complaints about the same text compare equal.
    static func normalize(_ line: String) -> String {
        var text = line
        if let bar = text.range(of: " | ") { text = String(text[bar.upperBound...]) }
        return text.replacing(/line \d+/, with: "line N")
    }

    /// The value multipath-tools uses for `key` on a LUN with this INQUIRY identity: overrides,
    /// else the last matching device entry that sets it (built-in entries come first), else defaults.
    static func effectiveValue(_ key: String, vendor: String, product: String, in conf: MultipathConf) -> String? {
        if let value = conf.sections(named: "overrides").last?.value(of: key) { return value }
        let devices = conf.sections(named: "devices").flatMap(\.subsections).filter {
            guard let v = $0.value(of: "vendor"), let p = $0.value(of: "product") else { return false }
            return MultipathLint.regexMatches(v, vendor) && MultipathLint.regexMatches(p, product)
        }
        if let value = devices.last(where: { $0.value(of: key) != nil })?.value(of: key) { return value }
        return conf.sections(named: "defaults").last?.value(of: key)
    }

    /// INQUIRY vendor and product of a profile, from templates/profiles/<vendor>/profile.toml.
    static func identity(_ vendor: String) throws -> (String, String) {
        let text = try String(contentsOfFile: "\(SanpathBinary.templates)/profiles/\(vendor)/profile.toml", encoding: .utf8)
        func value(_ key: String) -> String {
            text.split(separator: "\n").first { $0.hasPrefix(key + " ") }.map {
                String($0.split(separator: "\"")[1])
            } ?? ""
        }
        return (value("inquiry_vendor"), value("inquiry_product"))
    }
}

@Suite(.serialized, .enabled(if: MultipathTools.enabled, "needs root and multipath-tools (apt-get install multipath-tools)"))
struct MultipathToolsValidationTests {
    static let profiles = ["equallogic", "netapp", "vnx"].flatMap { v in ["nc", "sc"].map { "\(v)/\($0)" } }

    /// Every vendor and role renders a multipath.conf that multipath-tools 0.9.4 reads without one
    /// complaint, and whose device settings really are the ones in effect (they beat the built-in
    /// hardware table and the defaults).
    @Test(arguments: profiles)
    func renderedConfigIsCleanAndWins(_ profile: String) throws {
        let (vendor, role) = (String(profile.split(separator: "/")[0]), String(profile.split(separator: "/")[1]))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("render-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let render = try SanpathBinary.run([
            "render", "--vendor", vendor, "--role", role, "--paths", "iface0:192.0.2.2,iface1:198.51.100.2",
            "--interfaces", "iface0=ini0,iface1=ini1", "--site", "/nonexistent-is-an-error", "--out", out.path,
        ].filter { $0 != "--site" && $0 != "/nonexistent-is-an-error" })
        #expect(render.status == 0, "\(render.all)")
        let text = try String(contentsOf: out.appendingPathComponent("etc/multipath.conf"), encoding: .utf8)
        let check = try MultipathTools.check(text)
        #expect(check.complaints.isEmpty, "multipath-tools complained: \(check.complaints)")
        try expectProfileWins(rendered: text, vendor: vendor, effective: check.effective)
    }

    /// The settings the field review found wrong, read from multipath-tools' own effective
    /// configuration (`multipath -t`: the built-in hardware table merged with the file), for the
    /// array's INQUIRY identity.
    @Test(arguments: profiles)
    func fieldSettingsAreInEffect(_ profile: String) throws {
        let (vendor, role) = (String(profile.split(separator: "/")[0]), String(profile.split(separator: "/")[1]))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("render-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let render = try SanpathBinary.run([
            "render", "--vendor", vendor, "--role", role, "--paths", "iface0:192.0.2.2,iface1:198.51.100.2",
            "--interfaces", "iface0=ini0,iface1=ini1", "--out", out.path,
        ])
        #expect(render.status == 0, "\(render.all)")
        let check = try MultipathTools.check(try String(contentsOf: out.appendingPathComponent("etc/multipath.conf"), encoding: .utf8))
        let (inquiryVendor, inquiryProduct) = try MultipathTools.identity(vendor)
        func effective(_ key: String) -> String? {
            MultipathTools.effectiveValue(key, vendor: inquiryVendor, product: inquiryProduct, in: check.effective)
        }
        // mpathN names on NC and SC: Eucalyptus' scripts find maps by them (NETAPP's built-in says no)
        #expect(effective("user_friendly_names") == "yes", "\(profile)")
        // never queue forever on the profile's own values
        let retry = try #require(effective("no_path_retry"))
        #expect(Int(retry) != nil, "\(profile): no_path_retry \(retry)")
        #expect(effective("skip_kpartx") == (role == "nc" ? "yes" : "no"), "\(profile)")
        switch vendor {
        case "equallogic":
            #expect(effective("path_grouping_policy") == "multibus")
            #expect(effective("path_selector") == "service-time 0")
            #expect(effective("no_path_retry") == (role == "nc" ? "30" : "12"))
            #expect([nil, "1"].contains(effective("rr_min_io_rq")))
        case "vnx":
            // PNR (failover mode 1, no TPGS): the built-in DGC entry's emc prio and handler apply;
            // ALUA (mode 4): detect_prio, on, picks alua ahead of any configured prio (propsel.c)
            #expect(effective("prio") == "emc")
            #expect(effective("hardware_handler") == "1 emc")
            #expect(effective("path_checker") == "emc_clariion")
            #expect(effective("detect_prio") == "yes")
            #expect(effective("path_grouping_policy") == "group_by_prio")
        case "netapp":
            #expect(effective("no_path_retry") == (role == "nc" ? "16" : "12"))
            #expect(effective("detect_prio") == "yes")
            #expect(effective("path_grouping_policy") == "group_by_prio")
        default:
            Issue.record("unknown vendor \(vendor)")
        }
    }

    func expectProfileWins(rendered: String, vendor: String, effective: MultipathConf) throws {
        let (inquiryVendor, inquiryProduct) = try MultipathTools.identity(vendor)
        let mine = MultipathConf(text: rendered, source: "rendered")
        let device = try #require(mine.sections(named: "devices").last?.subsections.last)
        for setting in device.settings where setting.key != "vendor" && setting.key != "product" {
            #expect(
                MultipathTools.effectiveValue(setting.key, vendor: inquiryVendor, product: inquiryProduct, in: effective)
                    == setting.value, "\(vendor): \(setting.key) \(setting.value) does not take effect")
        }
        let defaults = try #require(mine.sections(named: "defaults").last)
        for setting in defaults.settings {
            #expect(effective.sections(named: "defaults").last?.value(of: setting.key) == setting.value)
        }
    }

    /// After apply, the host's merged multipath.conf draws no complaint that the original did not
    /// already draw, and the profile's settings are in effect (except where `overrides` beats
    /// them, which the plan warns about).
    @Test(arguments: Corpus.valid)
    func mergedConfigsDrawNoNewComplaint(_ name: String) throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("\(name)/root"))
        defer { tree.remove() }
        let confURL = tree.root.appendingPathComponent("etc/multipath.conf")
        let original = (try? String(contentsOf: confURL, encoding: .utf8))
        let before = try original.map { try MultipathTools.check($0).complaints } ?? []
        let site = Corpus.siteArguments(tree)
        let plan = try SanpathBinary.run(["plan"] + site)
        #expect(try SanpathBinary.run(["apply"] + site).status == 0)
        let merged = try String(contentsOf: confURL, encoding: .utf8)
        let after = try MultipathTools.check(merged)
        let introduced = after.complaints.filter { !before.contains($0) }
        #expect(introduced.isEmpty, "\(name): sanpath introduced complaints: \(introduced)")
        let siteText = try String(contentsOf: tree.root.appendingPathComponent("etc/sanpath/site.toml"), encoding: .utf8)
        let vendor = try #require(siteText.firstMatch(of: /vendor = "(\w+)"/)?.1).description
        let rendered = try SanpathBinary.run(["render"] + site.filter { $0 != "--root" && $0 != tree.root.path })
        let renderedConf = String(rendered.stdout.split(separator: "==> ").first { $0.hasPrefix("/etc/multipath.conf") }!.drop { $0 != "\n" }.dropFirst())
        if name == "overrides-conflict" {
            #expect(plan.stdout.contains("overrides sets no_path_retry fail, which beats"))
        } else {
            try expectProfileWins(rendered: renderedConf, vendor: vendor, effective: after.effective)
        }
    }
}
