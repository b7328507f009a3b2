import Foundation
import SanpathConfig
import SanpathCore
import Testing

/// Debian's multipath-tools, run on sanpath's files through scripts/mpt-sandbox (private mount
/// namespace; nothing reaches the host's /etc or /dev): Debian 12's 0.9.4 on the host, Debian 13's
/// 0.11.1 in the trixie root scripts/mpt-chroot makes (.cache/mpt-trixie, or SANPATH_MPT_ROOT_0_11_1).
enum MultipathTools {
    static let sandbox = SanpathBinary.repository.appendingPathComponent("scripts/mpt-sandbox").path

    /// With SANPATH_REQUIRE_MULTIPATH=1 (CI) a missing multipath-tools, of either release, is a
    /// failure, not a skip.
    static var required: Bool { ProcessInfo.processInfo.environment["SANPATH_REQUIRE_MULTIPATH"] == "1" }

    /// One multipath-tools release and where its `multipath` is.
    struct Tool: Sendable, CustomStringConvertible {
        /// "0.9.4".
        var release: String
        /// A root made by scripts/mpt-chroot, nil for the host's own multipath.
        var root: String?
        /// How to get it when missing.
        var install: String

        var version: MultipathToolsVersion { MultipathToolsVersion(parsing: release)! }
        var description: String { "multipath-tools \(release)" + (root.map { " in \($0)" } ?? "") }

        /// Root, `unshare` and this release's `multipath` present.
        var available: Bool {
            let binaries = root.map { ["\($0)/usr/sbin/multipath"] } ?? ["/sbin/multipath", "/usr/sbin/multipath"]
            return geteuid() == 0 && binaries.contains { FileManager.default.isExecutableFile(atPath: $0) }
                && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
        }
        var enabled: Bool { available || MultipathTools.required }

        /// `multipath ARGS` on the candidate file, in the sandbox: (stdout, stderr).
        func run(_ text: String, _ arguments: [String]) throws -> (String, String) {
            #expect(available, "\(self) or root missing: \(install) (SANPATH_REQUIRE_MULTIPATH=1)")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("mpt-\(UUID().uuidString).conf")
            try text.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: MultipathTools.sandbox)
            process.arguments = [file.path] + arguments
            var environment = ProcessInfo.processInfo.environment
            environment["MPT_ROOT"] = root
            process.environment = environment
            let out = Pipe()
            let err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            let stdout = out.fileHandleForReading.readDataToEndOfFile()
            let stderr = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
        }

        func check(_ text: String) throws -> Check {
            let (stdout, stderr) = try run(text, ["-t", "-v2"])
            let complaints = stderr.split(separator: "\n").map(String.init).filter {
                ["invalid", "missing", "ignoring", "deprecated", "parsing", "unmatched", "expecting", "can't parse", "duplicate"]
                    .contains(where: $0.contains)
            }.map(MultipathTools.normalize)
            return Check(effective: MultipathConf(text: stdout, source: "multipath -t"), complaints: complaints)
        }
    }

    /// Debian 12's, the host's.
    static let debian12 = Tool(release: "0.9.4", root: nil, install: "apt-get install multipath-tools")
    /// Debian 13's, in a trixie root.
    static let debian13 = Tool(
        release: "0.11.1",
        root: ProcessInfo.processInfo.environment["SANPATH_MPT_ROOT_0_11_1"]
            ?? SanpathBinary.repository.appendingPathComponent(".cache/mpt-trixie").path,
        install: "scripts/mpt-chroot builds it")

    struct Check {
        /// `multipath -t`: the effective configuration (built-in table merged with the file).
        var effective: MultipathConf
        /// What multipath-tools complained about, line numbers and timestamps removed.
        var complaints: [String]
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

    /// The value the device entries alone give `key` (no defaults): in `multipath -t` of a file
    /// without devices, that is the built-in hardware table's. (`multipath -t` folds a file's entry
    /// into a built-in one with the same vendor and product, so the table must be read apart.)
    static func deviceValue(_ key: String, vendor: String, product: String, in conf: MultipathConf) -> String? {
        let devices = conf.sections(named: "devices").flatMap(\.subsections).filter {
            guard let v = $0.value(of: "vendor"), let p = $0.value(of: "product") else { return false }
            return MultipathLint.regexMatches(v, vendor) && MultipathLint.regexMatches(p, product)
        }
        return devices.last(where: { $0.value(of: key) != nil })?.value(of: key)
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

@Suite(.serialized, .enabled(if: MultipathTools.debian12.enabled, "needs root and Debian 12's multipath-tools 0.9.4 (apt-get install multipath-tools)"))
struct MultipathToolsValidationTests {
    let checks = MultipathToolsValidation(tool: MultipathTools.debian12)
    @Test func itIsThatRelease() throws { try checks.itIsThatRelease() }
    @Test(arguments: MultipathToolsValidation.profiles)
    func renderedConfigIsCleanAndWins(_ profile: String) throws { try checks.renderedConfigIsCleanAndWins(profile) }
    @Test(arguments: MultipathToolsValidation.profiles)
    func fieldSettingsAreInEffect(_ profile: String) throws { try checks.fieldSettingsAreInEffect(profile) }
    @Test(arguments: Corpus.valid)
    func mergedConfigsDrawNoNewComplaint(_ name: String) throws { try checks.mergedConfigsDrawNoNewComplaint(name) }
    @Test(arguments: MultipathToolsValidation.eucalyptus2013)
    func eucalyptus2013MergedIsClean(_ name: String) throws { try checks.eucalyptus2013MergedIsClean(name) }
}

@Suite(.serialized, .enabled(if: MultipathTools.debian13.enabled, "needs root and Debian 13's multipath-tools 0.11.1 in a trixie root: run scripts/mpt-chroot (SANPATH_REQUIRE_MULTIPATH=1 makes its absence a failure)"))
struct MultipathTools0111ValidationTests {
    let checks = MultipathToolsValidation(tool: MultipathTools.debian13)
    @Test func itIsThatRelease() throws { try checks.itIsThatRelease() }
    @Test(arguments: MultipathToolsValidation.profiles)
    func renderedConfigIsCleanAndWins(_ profile: String) throws { try checks.renderedConfigIsCleanAndWins(profile) }
    @Test(arguments: MultipathToolsValidation.profiles)
    func fieldSettingsAreInEffect(_ profile: String) throws { try checks.fieldSettingsAreInEffect(profile) }
    @Test(arguments: Corpus.valid)
    func mergedConfigsDrawNoNewComplaint(_ name: String) throws { try checks.mergedConfigsDrawNoNewComplaint(name) }
    /// Issue #14: a 2013-era multipath.conf merged for a Debian 13 host (--multipath-version 0.11.1)
    /// draws not one complaint from 0.11.1.
    @Test(arguments: MultipathToolsValidation.eucalyptus2013)
    func eucalyptus2013MergedIsClean(_ name: String) throws { try checks.eucalyptus2013MergedIsClean(name) }
}

/// The checks, for one release: every file sanpath renders or merges draws no complaint from it,
/// and the profile's settings are the ones in effect with that release's built-in hardware table.
struct MultipathToolsValidation {
    static let profiles = ["equallogic", "netapp", "vnx"].flatMap { v in ["nc", "sc"].map { "\(v)/\($0)" } }
    static let eucalyptus2013 = ["eucalyptus-2013-equallogic", "eucalyptus-2013-netapp", "eucalyptus-2013-vnx"]

    let tool: MultipathTools.Tool
    var rules: [String] { ["--multipath-version", tool.release] }
    var atLeast011: Bool { tool.version >= MultipathToolsVersion(0, 11, 0) }

    /// The binary the tests run is the release they expect (a host with another multipath would
    /// otherwise check the wrong hardware table).
    func itIsThatRelease() throws {
        let (stdout, stderr) = try tool.run("defaults {\n}\n", ["-h"])
        #expect(MultipathToolsVersion(parsing: stderr + stdout) == tool.version, "\(tool): \(stderr.prefix(200))")
    }

    /// Every vendor and role renders a multipath.conf that the release reads without one
    /// complaint, and whose device settings really are the ones in effect (they beat the built-in
    /// hardware table and the defaults).
    func renderedConfigIsCleanAndWins(_ profile: String) throws {
        let (vendor, role) = (String(profile.split(separator: "/")[0]), String(profile.split(separator: "/")[1]))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("render-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let render = try SanpathBinary.run([
            "render", "--vendor", vendor, "--role", role, "--paths", "iface0:192.0.2.2,iface1:198.51.100.2",
            "--interfaces", "iface0=ini0,iface1=ini1", "--out", out.path,
        ])
        #expect(render.status == 0, "\(render.all)")
        let text = try String(contentsOf: out.appendingPathComponent("etc/multipath.conf"), encoding: .utf8)
        let check = try tool.check(text)
        #expect(check.complaints.isEmpty, "\(tool) complained: \(check.complaints)")
        try expectProfileWins(rendered: text, vendor: vendor, effective: check.effective)
    }

    /// The settings the field review found wrong, read from the release's own effective
    /// configuration (`multipath -t`: the built-in hardware table merged with the file), for the
    /// array's INQUIRY identity; and where the built-in tables of 0.9.4 and 0.11.1 differ.
    func fieldSettingsAreInEffect(_ profile: String) throws {
        let (vendor, role) = (String(profile.split(separator: "/")[0]), String(profile.split(separator: "/")[1]))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("render-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let render = try SanpathBinary.run([
            "render", "--vendor", vendor, "--role", role, "--paths", "iface0:192.0.2.2,iface1:198.51.100.2",
            "--interfaces", "iface0=ini0,iface1=ini1", "--out", out.path,
        ])
        #expect(render.status == 0, "\(render.all)")
        let check = try tool.check(try String(contentsOf: out.appendingPathComponent("etc/multipath.conf"), encoding: .utf8))
        let (inquiryVendor, inquiryProduct) = try MultipathTools.identity(vendor)
        func effective(_ key: String) -> String? {
            MultipathTools.effectiveValue(key, vendor: inquiryVendor, product: inquiryProduct, in: check.effective)
        }
        let table = try tool.check("defaults {\n}\n").effective
        func builtIn(_ key: String) -> String? {
            MultipathTools.deviceValue(key, vendor: inquiryVendor, product: inquiryProduct, in: table)
        }
        let context = "\(profile), \(tool)"
        // mpathN names on NC and SC: Eucalyptus' scripts find maps by them (NETAPP's built-in says no)
        #expect(effective("user_friendly_names") == "yes", "\(context)")
        // never queue forever on the profile's own values
        let retry = try #require(effective("no_path_retry"))
        #expect(Int(retry) != nil, "\(context): no_path_retry \(retry)")
        #expect(effective("skip_kpartx") == (role == "nc" ? "yes" : "no"), "\(context)")
        switch vendor {
        case "equallogic":
            #expect(effective("path_grouping_policy") == "multibus", "\(context)")
            #expect(effective("path_selector") == "service-time 0", "\(context)")
            #expect(effective("no_path_retry") == (role == "nc" ? "30" : "12"), "\(context)")
            #expect([nil, "1"].contains(effective("rr_min_io_rq")), "\(context)")
            // no built-in EQLOGIC entry before 0.13.0: the profile's section is the only one
            #expect(builtIn("path_grouping_policy") == nil, "\(context): a built-in EQLOGIC entry appeared")
        case "vnx":
            // PNR (failover mode 1, no TPGS): the built-in DGC entry's emc prio and checker apply;
            // ALUA (mode 4): detect_prio, on, picks alua ahead of any configured prio (propsel.c).
            // 0.11.0 removed hardware_handler from every built-in entry: the kernel's scsi_dh
            // attaches scsi_dh_emc to DGC LUNs by itself (since 4.3)
            #expect(builtIn("hardware_handler") == (atLeast011 ? nil : "1 emc"), "\(context)")
            #expect(effective("prio") == "emc", "\(context)")
            #expect(effective("hardware_handler") == (atLeast011 ? nil : "1 emc"), "\(context)")
            #expect(effective("path_checker") == "emc_clariion", "\(context)")
            #expect(effective("detect_prio") == "yes", "\(context)")
            #expect(effective("path_grouping_policy") == "group_by_prio", "\(context)")
            #expect(effective("no_path_retry") == (role == "nc" ? "60" : "12"), "\(context)")
        case "netapp":
            #expect(effective("no_path_retry") == (role == "nc" ? "16" : "12"), "\(context)")
            #expect(effective("detect_prio") == "yes", "\(context)")
            #expect(effective("path_grouping_policy") == "group_by_prio", "\(context)")
            // the built-in NETAPP entry still queues forever; the profile's number wins over it
            #expect(builtIn("no_path_retry") == "queue", "\(context)")
            #expect(builtIn("user_friendly_names") == "no", "\(context)")
            // flush_on_last_del: yes/no until 0.9.8, never/always/unused from 0.9.9
            #expect(builtIn("flush_on_last_del") == (atLeast011 ? "always" : "yes"), "\(context)")
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
                    == setting.value, "\(vendor), \(tool): \(setting.key) \(setting.value) does not take effect")
        }
        let defaults = try #require(mine.sections(named: "defaults").last)
        for setting in defaults.settings {
            #expect(effective.sections(named: "defaults").last?.value(of: setting.key) == setting.value, "\(tool): defaults \(setting.key)")
        }
    }

    /// After apply with this release's rules, the host's merged multipath.conf draws no complaint
    /// from it that the original did not already draw, and the profile's settings are in effect
    /// (except where `overrides` beats them, which the plan warns about).
    func mergedConfigsDrawNoNewComplaint(_ name: String) throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("\(name)/root"))
        defer { tree.remove() }
        let confURL = tree.root.appendingPathComponent("etc/multipath.conf")
        let original = (try? String(contentsOf: confURL, encoding: .utf8))
        let before = try original.map { try tool.check($0).complaints } ?? []
        let site = Corpus.siteArguments(tree)
        let plan = try SanpathBinary.run(["plan"] + site + rules)
        #expect(plan.stdout.contains("multipath-tools \(tool.release) rules (--multipath-version)"), "\(plan.stdout.prefix(200))")
        #expect(try SanpathBinary.run(["apply"] + site + rules).status == 0)
        let merged = try String(contentsOf: confURL, encoding: .utf8)
        let after = try tool.check(merged)
        let introduced = after.complaints.filter { !before.contains($0) }
        #expect(introduced.isEmpty, "\(name): sanpath introduced complaints from \(tool): \(introduced)")
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

    /// A 2013-era multipath.conf (the Eucalyptus examples) merged with this release's rules draws
    /// no complaint at all from it: every deprecated or moved keyword was migrated (the VNX one
    /// draws none before either: its `product "*"` fails silently, which the lint fixes).
    func eucalyptus2013MergedIsClean(_ name: String) throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("\(name)/root"))
        defer { tree.remove() }
        let confURL = tree.root.appendingPathComponent("etc/multipath.conf")
        let site = Corpus.siteArguments(tree)
        let apply = try SanpathBinary.run(["apply"] + site + rules)
        #expect(apply.status == 0, "\(apply.all)")
        let merged = try String(contentsOf: confURL, encoding: .utf8)
        let after = try tool.check(merged)
        #expect(after.complaints.isEmpty, "\(name) merged for \(tool.release): \(after.complaints)\n\(merged)")
    }
}
