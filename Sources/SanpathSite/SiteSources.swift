import SanpathCore

/// What one source says about the site. Every field is optional: later sources win field by
/// field (site file, then Eucalyptus' properties and eucalyptus.conf, then flags).
public struct SiteLayer: Sendable, Hashable {
    /// `equallogic`, `netapp` or `vnx` (or Eucalyptus' `emc-vnx`), as written.
    public var vendor: Located<String>?
    /// `nc` or `sc`, as written.
    public var role: Located<String>?
    /// Paths for this host whatever its role (site file, `--paths`).
    public var paths: [Located<String>]?
    /// Paths per role (`storage.ncpaths`, `storage.scpaths`).
    public var pathsByRole: [Role: Located<String>] = [:]
    /// The property name each role's paths came from, for errors.
    public var pathsName: String = "paths"
    /// `storage.sanhost`.
    public var sanHosts: [Located<String>]?
    /// `STORAGE_INTERFACES` or `[interfaces]`.
    public var interfaces: Located<String>?
    /// Already-split interface bindings (site file `[interfaces]` table).
    public var interfaceBindings: [InterfaceBinding]?
    /// CHAP user name and password.
    public var chapUsername: Located<String>?
    /// CHAP password.
    public var chapPassword: Located<String>?
    /// Device node owner, group, mode.
    public var deviceOwner: Located<String>?
    /// Device node group.
    public var deviceGroup: Located<String>?
    /// Device node mode.
    public var deviceMode: Located<String>?
    /// `[multipath] no_path_retry`: `queue`, `fail` or a count of checks, as written.
    public var noPathRetry: Located<String>?
    /// What name each field has in this source, for messages (`storage.sanhost`, `--sanhost`).
    public var names: [String: String] = [:]

    /// An empty layer.
    public init() {}
}

/// Builds a `Site` from layers, checking every value and every cross-reference.
public enum SiteResolver {
    /// Merges the layers (later wins) and validates the result.
    public static func resolve(_ layers: [SiteLayer]) throws(SanpathError) -> Site {
        var vendor: Located<String>?
        var role: Located<String>?
        var sanHosts: ([Located<String>], String)?
        var interfaces: (Located<String>, String)?
        var interfaceBindings: [InterfaceBinding]?
        var chapUser: Located<String>?
        var chapPassword: Located<String>?
        var owner: Located<String>?
        var group: Located<String>?
        var mode: Located<String>?
        var noPathRetry: Located<String>?

        for layer in layers {
            if let v = layer.vendor { vendor = v }
            if let r = layer.role { role = r }
            if let s = layer.sanHosts { sanHosts = (s, layer.names["sanhost"] ?? "sanhost") }
            if let i = layer.interfaces {
                interfaces = (i, layer.names["interfaces"] ?? "interfaces")
                interfaceBindings = nil
            }
            if let b = layer.interfaceBindings {
                interfaceBindings = b
                interfaces = nil
            }
            if let u = layer.chapUsername { chapUser = u }
            if let p = layer.chapPassword { chapPassword = p }
            if let o = layer.deviceOwner { owner = o }
            if let g = layer.deviceGroup { group = g }
            if let m = layer.deviceMode { mode = m }
            if let n = layer.noPathRetry { noPathRetry = n }
        }

        guard let vendor else {
            throw SanpathError(
                .invalidSite,
                "no vendor: set `vendor` in the site file, pass --vendor, or give properties with storage.blockstoragemanager")
        }
        let resolvedVendor = try parseVendor(vendor)
        guard let role else {
            throw SanpathError(.invalidSite, "no role: set `role = \"nc\"` or `\"sc\"` in the site file, or pass --role")
        }
        guard let resolvedRole = Role(rawValue: role.value.lowercased()) else {
            throw SiteValues.error(
                "role", "unknown role '\(role.value)'; expected nc or sc", at: role.location, text: role.value)
        }

        // the last source that names paths for this role wins
        var chosen: ([Located<String>], String)?
        for layer in layers {
            if let generic = layer.paths { chosen = (generic, layer.names["paths"] ?? "paths") }
            if let forRole = layer.pathsByRole[resolvedRole] {
                chosen = ([forRole], layer.pathsName.replacingOccurrences(of: "%role", with: resolvedRole.rawValue))
            }
        }
        guard let (pathEntries, pathsName) = chosen else {
            let property = resolvedRole == .nc ? "storage.ncpaths" : "storage.scpaths"
            throw SanpathError(
                .invalidSite,
                "no iSCSI paths for role \(resolvedRole.rawValue): set `paths` in the site file, pass --paths, or give properties with \(property)")
        }
        var resolvedPaths: [ISCSIPath] = []
        for entry in pathEntries {
            resolvedPaths += try SiteValues.parsePaths(entry.value, what: pathsName, at: entry.location)
        }

        var bindings: [InterfaceBinding] = interfaceBindings ?? []
        if let (entry, name) = interfaces {
            bindings = try SiteValues.parseInterfaces(entry.value, what: name, at: entry.location)
        }

        // every path's iface must be mapped, once; every portal used once per iface
        var firstUse: [String: ISCSIPath] = [:]
        var seenPaths: [String: ISCSIPath] = [:]
        for path in resolvedPaths {
            let key = "\(path.iface ?? "")|\(path.portal)"
            if let earlier = seenPaths[key] {
                throw SiteValues.error(
                    pathsName,
                    "path '\(path)' is listed twice (first at \(earlier.location))", at: path.location, text: path.description)
            }
            seenPaths[key] = path
            guard let iface = path.iface else { continue }
            if let earlier = firstUse[iface] {
                throw SiteValues.error(
                    pathsName,
                    "iface '\(iface)' is used by two paths (first at \(earlier.location)); each iface carries one path",
                    at: path.location, text: path.description)
            }
            firstUse[iface] = path
            guard bindings.contains(where: { $0.iface == iface }) else {
                let mapped = bindings.map { "\($0.iface)=\($0.nic)" }.joined(separator: ",")
                throw SiteValues.error(
                    pathsName,
                    "iface '\(iface)' is not mapped to a NIC: add \(iface)=<nic> to STORAGE_INTERFACES in eucalyptus.conf or to [interfaces] in the site file"
                        + (mapped.isEmpty ? " (no mapping is given at all)" : " (mapped: \(mapped))"),
                    at: path.location, text: path.description)
            }
        }

        var resolvedHosts: [SANHost] = []
        if let (entries, name) = sanHosts {
            for entry in entries {
                resolvedHosts += try SiteValues.parseSANHosts(entry.value, what: name, at: entry.location)
            }
            guard !resolvedHosts.isEmpty else {
                throw SiteValues.error(name, "no SAN management host given", at: entries.first?.location ?? SourceLocation(source: name), text: "")
            }
        }

        var chap: CHAPCredentials?
        switch (chapUser, chapPassword) {
        case (nil, nil): chap = nil
        case (let user?, let password?):
            guard !user.value.isEmpty else {
                throw SiteValues.error("chap.username", "empty CHAP user name", at: user.location, text: "")
            }
            guard !password.value.isEmpty, password.value.utf8.count <= 255 else {
                throw SiteValues.error(
                    "chap.password", "CHAP secret must be 1-255 characters (open-iscsi's limit); the value is hidden",
                    at: password.location, text: Secrets.mask)
            }
            chap = CHAPCredentials(username: user.value, password: password.value)
        case (let user?, nil):
            throw SiteValues.error("chap", "CHAP user name given without a password", at: user.location, text: user.value)
        case (nil, let password?):
            throw SiteValues.error("chap", "CHAP password given without a user name", at: password.location, text: Secrets.mask)
        }

        var permissions = DevicePermissions()
        if let owner { permissions.owner = try checkAccountName(owner, "devices.owner") }
        if let group { permissions.group = try checkAccountName(group, "devices.group") }
        if let mode {
            let digits = mode.value.hasPrefix("0") && mode.value.count == 4 ? String(mode.value.dropFirst()) : mode.value
            guard digits.count == 3, digits.allSatisfy({ ("0"..."7").contains($0) }) else {
                throw SiteValues.error("devices.mode", "mode must be three octal digits such as 660", at: mode.location, text: mode.value)
            }
            permissions.mode = digits
        }

        if let noPathRetry {
            let value = noPathRetry.value
            guard value == "queue" || value == "fail" || (Int(value).map { $0 > 0 && $0 <= 100_000 } ?? false) else {
                throw SiteValues.error(
                    "multipath.no_path_retry",
                    "no_path_retry must be \"queue\", \"fail\" or a number of checks (1 or more); queue on a hypervisor host hangs every VM when all paths are lost",
                    at: noPathRetry.location, text: value)
            }
        }

        var provenance: [String: SourceLocation] = ["vendor": vendor.location, "role": role.location]
        _ = interfaces
        if let first = resolvedPaths.first { provenance["paths"] = first.location }
        if let first = resolvedHosts.first { provenance["sanhost"] = first.location }
        if let first = bindings.first { provenance["interfaces"] = first.location }

        return Site(
            vendor: resolvedVendor, role: resolvedRole, paths: resolvedPaths, sanHosts: resolvedHosts,
            interfaces: bindings, chap: chap, devicePermissions: permissions, noPathRetry: noPathRetry?.value,
            provenance: provenance)
    }

    /// Accepts the vendor names sanpath uses and Eucalyptus' `storage.blockstoragemanager` values.
    static func parseVendor(_ vendor: Located<String>) throws(SanpathError) -> Vendor {
        switch vendor.value.lowercased() {
        case "equallogic", "eql", "eqlogic": return .equallogic
        case "netapp", "ontap": return .netapp
        case "vnx", "emc-vnx", "emcvnx", "clariion": return .vnx
        default:
            throw SiteValues.error(
                "vendor", "no sanpath profile for '\(vendor.value)'; profiles: equallogic, netapp, vnx",
                at: vendor.location, text: vendor.value)
        }
    }

    static func checkAccountName(_ value: Located<String>, _ what: String) throws(SanpathError) -> String {
        let valid = !value.value.isEmpty && value.value.count <= 32
            && value.value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }
        guard valid else {
            throw SiteValues.error(what, "invalid user or group name '\(value.value)'", at: value.location, text: value.value)
        }
        return value.value
    }
}
