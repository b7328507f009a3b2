import Foundation
import SanpathConfig
import SanpathCore
import SanpathProfiles
import SanpathSite
import Testing

/// The repository's templates directory.
let templatesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("templates").path

func site(_ vendor: Vendor, _ role: Role, chap: CHAPCredentials? = nil) -> Site {
    let here = SourceLocation(source: "test")
    return Site(
        vendor: vendor, role: role,
        paths: [
            ISCSIPath(iface: "iface0", portal: PortalAddress(host: "192.0.2.2"), location: here),
            ISCSIPath(iface: "iface1", portal: PortalAddress(host: "198.51.100.2"), location: here),
        ],
        sanHosts: [SANHost(host: "10.109.1.26", location: here)],
        interfaces: [
            InterfaceBinding(iface: "iface0", nic: "ini0", location: here),
            InterfaceBinding(iface: "iface1", nic: "ini1", location: here),
        ],
        chap: chap)
}

struct Profile: CustomTestStringConvertible, Sendable {
    var vendor: Vendor
    var role: Role
    var testDescription: String { "\(vendor.rawValue)/\(role.rawValue)" }
    static let all = Vendor.allCases.flatMap { v in Role.allCases.map { Profile(vendor: v, role: $0) } }
}

@Suite struct ProfileRenderingTests {
    let library: ProfileLibrary

    init() throws { library = try ProfileLibrary(directory: templatesDirectory) }

    @Test(arguments: Profile.all)
    func multipathConfIsCleanForMultipathTools(_ profile: Profile) throws {
        let files = try library.render(site(profile.vendor, profile.role))
        let text = try #require(files.first { $0.kind == .multipathConf }).text
        let conf = MultipathConf(text: text, source: "multipath.conf")
        #expect(conf.syntaxDiagnostics.isEmpty, "\(conf.syntaxDiagnostics)")
        #expect(MultipathLint.findings(conf).isEmpty, "\(MultipathLint.findings(conf).map(\.diagnostic))")
        // the pragma line leaves no trace and the file starts with its header comment
        #expect(text.hasPrefix("# /etc/multipath.conf"))
        #expect(!text.contains("CONTENT_TYPE"))
        #expect(!text.contains("\n\n\n"))
        let device = try #require(conf.sections(named: "devices").first?.subsections.first)
        let meta = library.metadata(for: profile.vendor)
        let vendor = try #require(device.value(of: "vendor"))
        let product = try #require(device.value(of: "product"))
        #expect(MultipathLint.regexMatches(vendor, meta.inquiryVendor))
        #expect(MultipathLint.regexMatches(product, meta.inquiryProduct))
        // Eucalyptus' connect scripts find maps by mpathN names on the SC too
        #expect(device.value(of: "user_friendly_names") == "yes")
        // a VM's partition table must not get host partition maps that hold the map at detach
        #expect((device.value(of: "skip_kpartx") == "yes") == (profile.role == .nc))
    }

    /// Every setting the profile writes in multipath.conf carries a reason right above it or
    /// above its group, so `plan` can say why.
    @Test(arguments: Profile.all)
    func everyMultipathSettingHasAReason(_ profile: Profile) throws {
        let text = try #require(try library.render(site(profile.vendor, profile.role)).first { $0.kind == .multipathConf }).text
        let conf = MultipathConf(text: text, source: "multipath.conf")
        for (_, section) in conf.allSections() {
            for setting in section.settings {
                let why = conf.explanation(of: setting, in: section)
                #expect(why != nil && why!.count > 20, "\(profile.testDescription): \(setting.key) has no reason")
            }
        }
    }

    /// A hypervisor host never queues forever: every NC gets a bounded no_path_retry (NetApp's
    /// own recommendation, queue, is refused for the NC); a site may choose queue knowingly.
    @Test(arguments: Profile.all)
    func noPathRetryIsBoundedUnlessTheSiteChoosesQueue(_ profile: Profile) throws {
        func device(_ s: Site) throws -> MultipathSection {
            let text = try #require(try library.render(s).first { $0.kind == .multipathConf }).text
            return try #require(MultipathConf(text: text, source: "m").sections(named: "devices").first?.subsections.first)
        }
        let retry = try #require(try device(site(profile.vendor, profile.role)).value(of: "no_path_retry"))
        let checks = try #require(Int(retry), "\(profile.testDescription): no_path_retry \(retry) is not a bounded count")
        #expect((1...60).contains(checks))
        var chosen = site(profile.vendor, profile.role)
        chosen.noPathRetry = "queue"
        #expect(try device(chosen).value(of: "no_path_retry") == "queue")
    }

    /// EqualLogic: the kernel resets a repeat count above 1, so no rr_min_io(_rq) and no
    /// round-robin; upstream's EQLOGIC entry: multibus, service-time 0, no_path_retry 30.
    @Test func equalLogicFollowsTheUpstreamEntry() throws {
        let text = try #require(try library.render(site(.equallogic, .nc)).first { $0.kind == .multipathConf }).text
        let device = try #require(MultipathConf(text: text, source: "m").sections(named: "devices").first?.subsections.first)
        #expect(device.value(of: "path_grouping_policy") == "multibus")
        #expect(device.value(of: "path_selector") == "service-time 0")
        #expect(device.value(of: "no_path_retry") == "30")
        #expect(device.value(of: "rr_min_io_rq") == nil && device.value(of: "rr_min_io") == nil)
    }

    /// VNX: no fixed prio or hardware handler, so the built-in ^DGC entry (emc, for PNR LUNs)
    /// and detect_prio (alua, for ALUA LUNs) decide per LUN; and an old section's fixed ones
    /// are taken out.
    @Test func vnxLeavesPrioAndHandlerToDetection() throws {
        let text = try #require(try library.render(site(.vnx, .nc)).first { $0.kind == .multipathConf }).text
        let device = try #require(MultipathConf(text: text, source: "m").sections(named: "devices").first?.subsections.first)
        #expect(device.value(of: "prio") == nil)
        #expect(device.value(of: "hardware_handler") == nil)
        #expect(device.value(of: "detect_prio") == "yes")
        #expect(Set(library.metadata(for: .vnx).deviceUnset.map(\.text)).isSuperset(of: ["prio", "hardware_handler"]))
    }

    /// EqualLogic with two iSCSI NICs gets the ARP sysctls for each; one NIC or another vendor, none.
    @Test func equalLogicARPSysctlsForEachISCSINIC() throws {
        var s = site(.equallogic, .nc)
        s.interfaces[1].nic = "eth1.100"
        let sysctl = try #require(try library.render(s).first { $0.kind == .sysctl })
        #expect(sysctl.path == "/etc/sysctl.d/60-sanpath-iscsi-arp.conf")
        for line in [
            "net.ipv4.conf.ini0.arp_ignore = 1", "net.ipv4.conf.ini0.arp_announce = 2", "net.ipv4.conf.ini0.rp_filter = 2",
            "net/ipv4/conf/eth1.100/arp_ignore = 1",
        ] {
            #expect(sysctl.text.split(separator: "\n").contains(Substring(line)), "missing \(line)")
        }
        #expect(try library.render(site(.netapp, .nc)).allSatisfy { $0.kind != .sysctl })
        var oneNIC = site(.equallogic, .sc)
        oneNIC.interfaces[1].nic = "ini0"
        #expect(try library.render(oneNIC).allSatisfy { $0.kind != .sysctl })
    }

    @Test(arguments: Profile.all)
    func iscsidConfHasNoLineOpenISCSISkips(_ profile: Profile) throws {
        let files = try library.render(site(profile.vendor, profile.role))
        let conf = ISCSIConf(text: try #require(files.first { $0.kind == .iscsidConf }).text, source: "iscsid.conf")
        #expect(conf.syntaxDiagnostics.isEmpty)
        #expect(conf.settings.allSatisfy { $0.accepted })
        #expect(conf.findings().isEmpty, "\(conf.findings().map(\.diagnostic))")
        #expect(conf.effective("node.startup")?.value == "manual")
        #expect(conf.effective("node.session.timeo.replacement_timeout") != nil)
    }

    @Test func replacementTimeoutEqualsFastIOFailTmo() throws {
        // multipathd overwrites each session's recovery_tmo with fast_io_fail_tmo (lab finding)
        for profile in Profile.all {
            let files = try library.render(site(profile.vendor, profile.role))
            let iscsid = ISCSIConf(text: files.first { $0.kind == .iscsidConf }!.text, source: "i")
            let mp = MultipathConf(text: files.first { $0.kind == .multipathConf }!.text, source: "m")
            let device = try #require(mp.sections(named: "devices").first?.subsections.first)
            #expect(device.value(of: "fast_io_fail_tmo") == iscsid.effective("node.session.timeo.replacement_timeout")?.value)
        }
    }

    @Test func chapIsRenderedVerbatimNotHTMLEscaped() throws {
        let secret = "p&ss<word>\"42x"
        let files = try library.render(site(.equallogic, .nc, chap: CHAPCredentials(username: "euca", password: secret)))
        let conf = ISCSIConf(text: files.first { $0.kind == .iscsidConf }!.text, source: "i")
        #expect(conf.effective("node.session.auth.password")?.value == secret)
        #expect(conf.effective("node.session.auth.authmethod")?.value == "CHAP")
    }

    @Test func oneIfaceFilePerIfaceInUse() throws {
        let files = try library.render(site(.netapp, .sc), iscsiDatabase: ISCSIDatabase.varLib)
        let ifaces = files.filter { if case .iface = $0.kind { return true } else { return false } }
        #expect(ifaces.map(\.path) == ["/var/lib/iscsi/ifaces/iface0", "/var/lib/iscsi/ifaces/iface1"])
        let iface0 = ISCSIConf(text: ifaces[0].text, source: "iface0")
        #expect(iface0.effective("iface.net_ifacename")?.value == "ini0")
        #expect(iface0.effective("iface.iscsi_ifacename")?.value == "iface0")
        #expect(iface0.effective("iface.hwaddress") == nil)
    }

    @Test func udevRuleGivesMapsToTheOwner() throws {
        var s = site(.vnx, .nc)
        s.devicePermissions.owner = "qemu"
        let rule = try #require(try library.render(s).first { $0.kind == .udevRule }).text
        #expect(rule.contains(#"ENV{DM_UUID}=="mpath-?*", OWNER:="qemu", GROUP:="disk", MODE:="660""#))
    }
}
