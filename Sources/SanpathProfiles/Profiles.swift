import Foundation
import Mustache
import SanpathConfig
import SanpathCore
import SanpathSite

/// A profile's identity, from `templates/profiles/<vendor>/profile.toml`.
public struct ProfileMetadata: Sendable, Hashable {
    /// Display name ("Dell EqualLogic PS Series").
    public var name: String
    /// SCSI INQUIRY vendor of the array's LUNs.
    public var inquiryVendor: String
    /// SCSI INQUIRY product of the array's LUNs.
    public var inquiryProduct: String
    /// Prefix of the array's target IQNs.
    public var iqnPrefix: String
    /// TCP port of the SAN management hosts, for reachability probes.
    public var managementPort: Int
    /// `no_path_retry` per role, with the reason written above it in multipath.conf.
    public var noPathRetry: [Role: ProfileValue]
    /// Keys an older device section for this array may carry that the profile takes out, with
    /// the reason (in file order).
    public var deviceUnset: [ProfileValue]
}

/// A value a profile sets or takes out, and why.
public struct ProfileValue: Sendable, Hashable {
    /// The key (for `deviceUnset`) or the value (for `noPathRetry`).
    public var text: String
    /// One sentence with its source, shown in multipath.conf and in `plan`.
    public var reason: String

    /// Creates a value.
    public init(_ text: String, reason: String) {
        self.text = text
        self.reason = reason
    }
}

/// Which managed file a rendered document is.
public enum ManagedFile: Sendable, Hashable, CustomStringConvertible {
    /// `/etc/multipath.conf`
    case multipathConf
    /// `/etc/iscsi/iscsid.conf`
    case iscsidConf
    /// An open-iscsi iface file, by iface name.
    case iface(String)
    /// `/etc/udev/rules.d/NN-dm-permissions.rules` (after the distribution's dm rules)
    case udevRule
    /// `/etc/sysctl.d/60-sanpath-iscsi-arp.conf`: ARP settings of the iSCSI NICs (EqualLogic,
    /// several NICs on one subnet)
    case sysctl

    public var description: String {
        switch self {
        case .multipathConf: "multipath.conf"
        case .iscsidConf: "iscsid.conf"
        case .iface(let name): "iface \(name)"
        case .udevRule: "udev rule"
        case .sysctl: "sysctl file"
        }
    }
}

/// A file as the profile wants it.
public struct RenderedFile: Sendable, Hashable {
    /// Which file.
    public var kind: ManagedFile
    /// Where it lives on the host (absolute, before any `--root`).
    public var path: String
    /// Its full text.
    public var text: String
}

/// Where the host keeps open-iscsi's database (ifaces, node records).
public enum ISCSIDatabase {
    /// Debian and Ubuntu, and open-iscsi's Makefile default.
    public static let etc = "/etc/iscsi"
    /// RHEL and Fedora (open-iscsi's meson default).
    public static let varLib = "/var/lib/iscsi"
}

/// The vendor profiles under a templates directory, rendered with swift-mustache.
public struct ProfileLibrary: Sendable {
    /// The templates directory.
    public let directory: String
    private let library: MustacheLibrary
    private let metadata: [Vendor: ProfileMetadata]

    /// Loads every template and profile; a broken template is an error naming its file.
    public init(directory: String) throws(SanpathError) {
        self.directory = directory
        var library = MustacheLibrary()
        let root = URL(fileURLWithPath: directory)
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        var found = 0
        while let url = enumerator?.nextObject() as? URL {
            guard url.pathExtension == "mustache" else { continue }
            let relative = url.path.dropFirst(root.path.count + 1)
            let name = String(relative.dropLast(".mustache".count))
            let text: String
            do {
                text = try String(contentsOf: url, encoding: .utf8)
            } catch {
                throw SanpathError(.invalidProfile, "cannot read template \(url.path)", underlying: error)
            }
            guard text.hasPrefix("{{% CONTENT_TYPE: TEXT}}") else {
                throw SanpathError(
                    .invalidProfile, "template must start with {{% CONTENT_TYPE: TEXT}} so nothing is HTML-escaped",
                    at: SourceLocation(source: url.path, line: 1, column: 1))
            }
            do {
                try library.register(text, named: name)
            } catch {
                throw SanpathError(
                    .invalidProfile, "template \(url.path) does not parse: \(error)", at: SourceLocation(source: url.path))
            }
            found += 1
        }
        guard found > 0 else {
            throw SanpathError(.invalidProfile, "no templates (*.mustache) under \(directory)")
        }
        var metadata: [Vendor: ProfileMetadata] = [:]
        for vendor in Vendor.allCases {
            let path = root.appendingPathComponent("profiles/\(vendor.rawValue)/profile.toml").path
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw SanpathError(.invalidProfile, "missing \(path)")
            }
            metadata[vendor] = try ProfileLibrary.parseMetadata(text, source: path)
            for name in ["multipath.conf", "iscsid.conf"] where library.getTemplate(named: "profiles/\(vendor.rawValue)/\(name)") == nil {
                throw SanpathError(.invalidProfile, "missing template profiles/\(vendor.rawValue)/\(name).mustache under \(directory)")
            }
        }
        for name in ["shared/iface", "shared/dm-permissions.rules"] where library.getTemplate(named: name) == nil {
            throw SanpathError(.invalidProfile, "missing template \(name).mustache under \(directory)")
        }
        self.library = library
        self.metadata = metadata
    }

    static func parseMetadata(_ text: String, source: String) throws(SanpathError) -> ProfileMetadata {
        let table = try SiteTOML.parse(text, source: source)
        func string(_ key: String) throws(SanpathError) -> String {
            guard case .string(let value, _)? = table[key], !value.isEmpty else {
                throw SanpathError(.invalidProfile, "\(source): '\(key)' must be a non-empty string", at: table[key]?.location)
            }
            return value
        }
        guard case .integer(let port, _)? = table["management_port"], (1...65535).contains(port) else {
            throw SanpathError(.invalidProfile, "\(source): 'management_port' must be a port number")
        }
        guard case .table(let retry)? = table["no_path_retry"] else {
            throw SanpathError(.invalidProfile, "\(source): a [no_path_retry] table with nc, nc_reason, sc and sc_reason is missing")
        }
        var noPathRetry: [Role: ProfileValue] = [:]
        for role in Role.allCases {
            let value: String
            switch retry[role.rawValue] {
            case .integer(let count, _)? where count > 0: value = String(count)
            case .string(let word, _)? where word == "queue" || word == "fail": value = word
            default:
                throw SanpathError(
                    .invalidProfile, "\(source): [no_path_retry] \(role.rawValue) must be a count of checks, \"queue\" or \"fail\"",
                    at: retry[role.rawValue]?.location ?? retry.location)
            }
            guard case .string(let reason, _)? = retry["\(role.rawValue)_reason"], !reason.isEmpty else {
                throw SanpathError(.invalidProfile, "\(source): [no_path_retry] \(role.rawValue)_reason must say why", at: retry.location)
            }
            noPathRetry[role] = ProfileValue(value, reason: reason)
        }
        var unset: [ProfileValue] = []
        if case .table(let keys)? = table["device_unset"] {
            for key in keys.orderedKeys {
                guard case .string(let reason, _)? = keys[key], !reason.isEmpty else {
                    throw SanpathError(
                        .invalidProfile, "\(source): [device_unset] \(key) must be the reason, a string", at: keys[key]?.location)
                }
                unset.append(ProfileValue(key, reason: reason))
            }
        }
        return ProfileMetadata(
            name: try string("name"), inquiryVendor: try string("inquiry_vendor"),
            inquiryProduct: try string("inquiry_product"), iqnPrefix: try string("iqn_prefix"), managementPort: port,
            noPathRetry: noPathRetry, deviceUnset: unset)
    }

    /// A vendor's identity.
    public func metadata(for vendor: Vendor) -> ProfileMetadata { metadata[vendor]! }

    /// Every managed file for the site. `iscsiDatabase` is where the host keeps ifaces; `udevRules`
    /// says where the host's device-mapper rules run, and so what the permissions rule is called.
    public func render(
        _ site: Site, iscsiDatabase: String = ISCSIDatabase.etc, udevRules: UdevRuleOrder = .eucalyptus
    ) throws(SanpathError) -> [RenderedFile] {
        let meta = metadata(for: site.vendor)
        var context: [String: Any] = [
            "vendor": site.vendor.rawValue,
            "role": site.role.rawValue,
            "roleName": site.role == .nc ? "Node Controller" : "Storage Controller",
            "nc": site.role == .nc,
            "sc": site.role == .sc,
            "profile": ["name": meta.name],
            "owner": site.devicePermissions.owner,
            "group": site.devicePermissions.group,
            "mode": site.devicePermissions.mode,
            "udevRuleName": udevRules.permissionsFileName,
            "dmRules": udevRules.dmRulesFileName,
            "noPathRetryProfile": meta.noPathRetry[site.role]!.text,
            "noPathRetryReason": ProfileLibrary.wrap(meta.noPathRetry[site.role]!.reason, width: 88),
        ]
        if let chosen = site.noPathRetry { context["noPathRetrySite"] = chosen }
        if let chap = site.chap {
            context["chap"] = ["username": chap.username, "password": chap.password]
        }
        var files: [RenderedFile] = []
        files.append(
            RenderedFile(
                kind: .multipathConf, path: "/etc/multipath.conf",
                text: try render("profiles/\(site.vendor.rawValue)/multipath.conf", context)))
        files.append(
            RenderedFile(
                kind: .iscsidConf, path: "/etc/iscsi/iscsid.conf",
                text: try render("profiles/\(site.vendor.rawValue)/iscsid.conf", context)))
        for binding in site.ifacesInUse {
            var ifaceContext = context
            ifaceContext["name"] = binding.iface
            ifaceContext["nic"] = binding.nic
            files.append(
                RenderedFile(
                    kind: .iface(binding.iface), path: "\(iscsiDatabase)/ifaces/\(binding.iface)",
                    text: try render("shared/iface", ifaceContext)))
        }
        files.append(
            RenderedFile(
                kind: .udevRule, path: "/etc/udev/rules.d/\(udevRules.permissionsFileName)",
                text: try render("shared/dm-permissions.rules", context)))
        // a profile with a sysctl template needs it once the host has two iSCSI NICs
        let nics = site.ifacesInUse.map(\.nic).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let sysctlTemplate = "profiles/\(site.vendor.rawValue)/sysctl.conf"
        if nics.count >= 2, library.getTemplate(named: sysctlTemplate) != nil {
            var sysctlContext = context
            sysctlContext["sysctlFileName"] = ProfileLibrary.sysctlFileName
            // a NIC name with a dot (VLAN eth1.100) needs sysctl.d's slash form
            sysctlContext["sysctlNICs"] = nics.map { nic in
                ["nic": nic, "prefix": nic.contains(".") ? "net/ipv4/conf/\(nic)/" : "net.ipv4.conf.\(nic)."]
            }
            files.append(
                RenderedFile(
                    kind: .sysctl, path: "/etc/sysctl.d/\(ProfileLibrary.sysctlFileName)",
                    text: try render(sysctlTemplate, sysctlContext)))
        }
        return files
    }

    /// Words of `text` in lines of at most `width` characters (a longer word stands alone).
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty, line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += line.isEmpty ? String(word) : " \(word)"
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    /// The sysctl.d file of the profiles that need one.
    public static let sysctlFileName = "60-sanpath-iscsi-arp.conf"

    private func render(_ template: String, _ context: [String: Any]) throws(SanpathError) -> String {
        guard let text = library.render(context, withTemplate: template) else {
            throw SanpathError(.invalidProfile, "template \(template) is missing under \(directory)")
        }
        return text
    }
}

/// Where the host's device-mapper udev rules run, which decides the name of the permissions
/// rule: it must sort after them, since they set `DM_UDEV_RULES_VSN` and `DM_UUID`.
public struct UdevRuleOrder: Sendable, Hashable {
    /// The distribution's dm rules file (`10-dm.rules` upstream and on RHEL, `55-dm.rules` on Debian).
    public var dmRulesFileName: String

    /// Creates the order from the dm rules file's name.
    public init(dmRulesFileName: String) {
        self.dmRulesFileName = dmRulesFileName
    }

    /// Upstream LVM2 and RHEL: `10-dm.rules`, where Eucalyptus' `12-dm-permissions.rules` belongs.
    public static let eucalyptus = UdevRuleOrder(dmRulesFileName: "10-dm.rules")

    /// The dm rules' number plus two: `12-dm-permissions.rules` after `10-dm.rules`,
    /// `57-dm-permissions.rules` after Debian's `55-dm.rules`.
    public var permissionsFileName: String {
        let number = Int(dmRulesFileName.prefix { $0.isNumber }) ?? 10
        return String(format: "%02d-dm-permissions.rules", number + 2)
    }

    /// The directories udev reads rules from, the distribution's first.
    public static let ruleDirectories = ["/lib/udev/rules.d", "/usr/lib/udev/rules.d", "/etc/udev/rules.d"]
}

/// Finds the templates directory: `--templates`, `$SANPATH_TEMPLATES`, the installed share
/// directory next to the binary, or a `templates/` in a parent of the binary or the working
/// directory (a source checkout).
public enum TemplateLocator {
    /// The directory, or an error listing where it looked.
    public static func find(explicit: String?, executable: String, workingDirectory: String) throws(SanpathError) -> String {
        if let explicit { return explicit }
        if let env = ProcessInfo.processInfo.environment["SANPATH_TEMPLATES"], !env.isEmpty { return env }
        let exeDir = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        var candidates = [exeDir.appendingPathComponent("../share/sanpath/templates").standardized.path]
        for start in [exeDir, URL(fileURLWithPath: workingDirectory)] {
            var dir = start
            for _ in 0..<8 {
                candidates.append(dir.appendingPathComponent("templates").path)
                dir = dir.deletingLastPathComponent()
            }
        }
        for candidate in candidates
        where FileManager.default.fileExists(atPath: candidate + "/shared/iface.mustache") {
            return candidate
        }
        throw SanpathError(
            .invalidProfile,
            "cannot find the templates directory; pass --templates DIR or set SANPATH_TEMPLATES (looked in \(candidates.prefix(3).joined(separator: ", ")), …)")
    }
}
