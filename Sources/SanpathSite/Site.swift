import SanpathCore

/// The SAN array family a host talks to; each has its own profile under `templates/`.
public enum Vendor: String, CaseIterable, Sendable, Hashable, Codable {
    /// Dell EqualLogic PS Series.
    case equallogic
    /// NetApp ONTAP (FAS/AFF) LUNs.
    case netapp
    /// EMC VNX / CLARiiON, in ALUA (failover mode 4) or PNR (mode 1).
    case vnx
}

/// What the host does in a Eucalyptus cloud.
public enum Role: String, CaseIterable, Sendable, Hashable, Codable {
    /// Node Controller: runs VMs and attaches volumes (uses `storage.ncpaths`).
    case nc
    /// Storage Controller: drives the SAN, copies snapshots (uses `storage.scpaths`).
    case sc
}

/// A value and where it was written.
public struct Located<Value: Sendable & Hashable>: Sendable, Hashable {
    /// The value.
    public var value: Value
    /// Where it came from.
    public var location: SourceLocation

    /// Pairs a value with its location.
    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }
}

/// An iSCSI portal: host (IPv4 address, host name or IPv6 address) and TCP port.
public struct PortalAddress: Sendable, Hashable, CustomStringConvertible, Codable {
    /// IPv4 literal, host name, or IPv6 literal without brackets.
    public var host: String
    /// TCP port, 3260 unless given.
    public var port: Int

    /// Creates a portal address.
    public init(host: String, port: Int = 3260) {
        self.host = host
        self.port = port
    }

    /// Whether `host` is an IPv6 literal.
    public var isIPv6: Bool { host.contains(":") }

    /// `host:port`, with brackets around IPv6 (`[fe80::1]:3260`), as iscsiadm's `-p` takes it.
    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// One iSCSI path of the site: an optional logical iface (`iface0`) and a portal.
public struct ISCSIPath: Sendable, Hashable, CustomStringConvertible {
    /// The logical iface name from `storage.ncpaths` (`iface0:`), or nil for the default route.
    public var iface: String?
    /// The portal.
    public var portal: PortalAddress
    /// Where the path was written.
    public var location: SourceLocation

    /// Creates a path.
    public init(iface: String?, portal: PortalAddress, location: SourceLocation) {
        self.iface = iface
        self.portal = portal
        self.location = location
    }

    /// `iface0:10.0.0.1:3260` or `10.0.0.1:3260`.
    public var description: String { iface.map { "\($0):\(portal)" } ?? portal.description }
}

/// A SAN management host from `storage.sanhost`.
public struct SANHost: Sendable, Hashable, CustomStringConvertible {
    /// Host name or address.
    public var host: String
    /// Port, when given in the list (`host:port`); otherwise the profile's management port.
    public var port: Int?
    /// Where it was written.
    public var location: SourceLocation

    /// Creates a SAN host.
    public init(host: String, port: Int? = nil, location: SourceLocation) {
        self.host = host
        self.port = port
        self.location = location
    }

    public var description: String {
        guard let port else { return host }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// A logical iface bound to a NIC (`iface0=br0` in `STORAGE_INTERFACES`).
public struct InterfaceBinding: Sendable, Hashable {
    /// Logical iface name, also the open-iscsi iface file name.
    public var iface: String
    /// Network interface name (`br0`, `eth1`).
    public var nic: String
    /// Where the binding was written.
    public var location: SourceLocation

    /// Creates a binding.
    public init(iface: String, nic: String, location: SourceLocation) {
        self.iface = iface
        self.nic = nic
        self.location = location
    }
}

/// CHAP credentials for iscsid.conf. The password never reaches output.
public struct CHAPCredentials: Sendable, Hashable, CustomStringConvertible {
    /// CHAP user name.
    public var username: String
    /// CHAP secret.
    public var password: String

    /// Creates credentials.
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// Never shows the secret.
    public var description: String { "CHAP user \(username), password \(Secrets.mask)" }
}

/// Who owns the multipath device nodes (the udev rule's OWNER, GROUP and MODE).
public struct DevicePermissions: Sendable, Hashable {
    /// Owner of `/dev/dm-*` for multipath maps; Eucalyptus runs as `eucalyptus`.
    public var owner: String = "eucalyptus"
    /// Group.
    public var group: String = "disk"
    /// Octal mode.
    public var mode: String = "660"

    /// The Eucalyptus defaults.
    public init() {}
}

/// Everything a host is told about its SAN: the input of every sanpath job.
public struct Site: Sendable, Hashable {
    /// The array family.
    public var vendor: Vendor
    /// NC or SC.
    public var role: Role
    /// The iSCSI paths of this role, in the order given.
    public var paths: [ISCSIPath]
    /// SAN management hosts, in the order given.
    public var sanHosts: [SANHost]
    /// Logical iface to NIC bindings, in the order given.
    public var interfaces: [InterfaceBinding]
    /// CHAP credentials, when the site uses them in iscsid.conf.
    public var chap: CHAPCredentials?
    /// Multipath device node permissions.
    public var devicePermissions: DevicePermissions
    /// `no_path_retry` chosen by the site over the profile's (`queue`, `fail` or a count of
    /// checks), from the site file's `[multipath]` table; nil keeps the profile's.
    public var noPathRetry: String?
    /// Where each field came from, for `--explain`-style output and errors.
    public var provenance: [String: SourceLocation]

    /// Creates a site (already validated).
    public init(
        vendor: Vendor, role: Role, paths: [ISCSIPath], sanHosts: [SANHost] = [],
        interfaces: [InterfaceBinding] = [], chap: CHAPCredentials? = nil,
        devicePermissions: DevicePermissions = DevicePermissions(), noPathRetry: String? = nil,
        provenance: [String: SourceLocation] = [:]
    ) {
        self.noPathRetry = noPathRetry
        self.vendor = vendor
        self.role = role
        self.paths = paths
        self.sanHosts = sanHosts
        self.interfaces = interfaces
        self.chap = chap
        self.devicePermissions = devicePermissions
        self.provenance = provenance
    }

    /// The NIC a logical iface is bound to.
    public func nic(forIface iface: String) -> String? {
        interfaces.first { $0.iface == iface }?.nic
    }

    /// The logical ifaces the paths use, each once, in path order.
    public var ifacesInUse: [InterfaceBinding] {
        var seen = Set<String>()
        var out: [InterfaceBinding] = []
        for path in paths {
            guard let iface = path.iface, seen.insert(iface).inserted else { continue }
            if let binding = interfaces.first(where: { $0.iface == iface }) { out.append(binding) }
        }
        return out
    }

    /// SAN hosts in the order Eucalyptus tries them: sorted by string (its TreeMap), not as given.
    public var sanHostsInEucalyptusOrder: [SANHost] {
        sanHosts.sorted { $0.host < $1.host }
    }
}
