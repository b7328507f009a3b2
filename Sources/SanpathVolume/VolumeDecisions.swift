import SanpathCore
import SanpathHealth
import SanpathSite

/// An open-iscsi iface as `/etc/iscsi/ifaces/NAME` describes it.
public struct HostIface: Sendable, Hashable {
    /// The iface name (the file name).
    public var name: String
    /// `iface.net_ifacename`, the NIC it binds sessions to; nil when unbound.
    public var nic: String?

    /// Creates an iface.
    public init(name: String, nic: String?) {
        self.name = name
        self.nic = nic
    }
}

/// What attach does for one path, decided before anything runs.
public struct PathStep: Sendable, Hashable {
    /// The path.
    public var path: VolumePath
    /// The NIC the path must leave by (nil: default route).
    public var nic: String?
    /// The open-iscsi iface to use (`default` without a NIC).
    public var iface: String
    /// Whether that iface must be created and bound to `nic` first.
    public var createIface: Bool
    /// The logged-in session that already serves this path, if any: no login then.
    public var session: Int?

    /// Whether a login is needed.
    public var needsLogin: Bool { session == nil }
}

/// The pure decisions of attach and detach, table-tested: which iface each path uses, which
/// paths need a login, and which sessions a detach may log out.
public enum VolumeDecisions {
    /// One step per path. A path whose logical iface the site does not map to a NIC is an error
    /// (as in Eucalyptus: "Can't find valid interface mapping"). `addresses` maps a portal host
    /// (a name or a literal) to the addresses it resolves to, as sysfs reports sessions by address.
    public static func attachSteps(
        for request: VolumeRequest, interfaces: [InterfaceBinding], ifaces: [HostIface], sessions: [ISCSISession],
        addresses: [String: [String]]
    ) throws(SanpathError) -> [PathStep] {
        var steps: [PathStep] = []
        var newIfaces: [String: String] = [:]  // NIC -> iface name chosen for it in this attach
        for path in request.paths {
            var nic: String?
            if let logical = path.iface {
                guard let binding = interfaces.first(where: { $0.iface == logical }) else {
                    let mapped = interfaces.map { "\($0.iface)=\($0.nic)" }.joined(separator: ",")
                    throw SanpathError(
                        .invalidSite,
                        "path \(path): iface '\(logical)' is not mapped to a NIC; add \(logical)=<nic> to STORAGE_INTERFACES or [interfaces] (mapped: \(mapped.isEmpty ? "none" : mapped))")
                }
                nic = binding.nic
            }
            var iface = "default"
            var create = false
            if let nic {
                if let bound = ifaces.filter({ $0.nic == nic }).map(\.name).sorted().first {
                    iface = bound
                } else if let chosen = newIfaces[nic] {
                    iface = chosen
                } else {
                    // the logical name when it is free, else the first free ifaceN (as Eucalyptus)
                    let taken = Set(ifaces.map(\.name)).union(newIfaces.values)
                    let preferred = path.iface.map { taken.contains($0) ? nil : $0 } ?? nil
                    iface = preferred ?? (0..<1024).lazy.map { "iface\($0)" }.first { !taken.contains($0) }!
                    newIfaces[nic] = iface
                    create = true
                }
            }
            let wanted = Set(addresses[path.portal.host] ?? [path.portal.host])
            let session = sessions.first { session in
                session.target == path.target && session.state == "LOGGED_IN"
                    && session.portalAddress.map(wanted.contains) == true
                    && (session.portalPort ?? path.portal.port) == path.portal.port
                    && (nic == nil || session.iface == iface || session.netdev == nic)
            }?.id
            steps.append(PathStep(path: path, nic: nic, iface: iface, createIface: create, session: session))
        }
        return steps
    }

    /// The sessions a detach may log out: those whose only LUNs are the ones being removed. A
    /// session that carries any other LUN stays (another volume on the same target uses it).
    public static func sessionsToLogOut(removing disks: Set<String>, sessions: [ISCSISession]) -> [ISCSISession] {
        sessions.filter { session in
            !session.devices.isEmpty && session.devices.contains(where: disks.contains) && session.devices.allSatisfy(disks.contains)
        }
    }
}
