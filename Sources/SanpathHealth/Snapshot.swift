import Foundation

/// Everything the collectors saw at one moment, as plain values. Findings are a pure function
/// of (site, snapshot); nothing here does I/O.
public struct Snapshot: Sendable, Hashable, Codable {
    /// When the collection finished (wall clock).
    public var time: Date
    /// dm-multipath maps, by device-mapper name.
    public var maps: [MultipathMap]
    /// SCSI disks (`sdX`) seen in sysfs, by kernel name.
    public var scsiDevices: [String: SCSIDevice]
    /// iSCSI sessions from sysfs.
    public var sessions: [ISCSISession]
    /// open-iscsi iface files.
    public var ifaces: [IfaceFile]
    /// Network interfaces, by name.
    public var nics: [String: NIC]
    /// SAN management hosts and their last probe.
    public var sanHosts: [SANHostState]
    /// Portal probes through each path's own NIC (when enabled).
    public var portalProbes: [PortalProbe]
    /// Whether multipathd answered on its socket: false when nothing listens there; nil when not
    /// asked, or when it took the command and did not answer in time (busy), so unknown.
    public var multipathdRunning: Bool?
    /// Files `plan` would change (config drift), by host path; nil when not checked.
    public var driftedFiles: [String]?

    /// Creates a snapshot.
    public init(
        time: Date = Date(), maps: [MultipathMap] = [], scsiDevices: [String: SCSIDevice] = [:],
        sessions: [ISCSISession] = [], ifaces: [IfaceFile] = [], nics: [String: NIC] = [:],
        sanHosts: [SANHostState] = [], portalProbes: [PortalProbe] = [], multipathdRunning: Bool? = nil,
        driftedFiles: [String]? = nil
    ) {
        self.time = time
        self.maps = maps
        self.scsiDevices = scsiDevices
        self.sessions = sessions
        self.ifaces = ifaces
        self.nics = nics
        self.sanHosts = sanHosts
        self.portalProbes = portalProbes
        self.multipathdRunning = multipathdRunning
        self.driftedFiles = driftedFiles
    }

    /// The session a SCSI disk belongs to.
    public func session(of device: String) -> ISCSISession? {
        guard let id = scsiDevices[device]?.sessionID else { return nil }
        return sessions.first { $0.id == id }
    }
}

/// One dm-multipath map: `dmsetup status`/`table` plus identity.
public struct MultipathMap: Sendable, Hashable, Codable {
    /// device-mapper name (`mpatha` or the WWID).
    public var name: String
    /// The WWID: the dm UUID without its `mpath-` prefix.
    public var wwid: String
    /// `dm-N`.
    public var sysfsName: String?
    /// `major:minor` of the map.
    public var majorMinor: String?
    /// How many openers hold the map (a VM, a mount).
    public var openCount: Int
    /// Whether I/O queues when no path is left (queue_if_no_path active now).
    public var queueing: Bool
    /// Path groups in table order; group numbers are 1-based in dm.
    public var groups: [PathGroup]

    /// Creates a map.
    public init(
        name: String, wwid: String, sysfsName: String? = nil, majorMinor: String? = nil, openCount: Int = 0,
        queueing: Bool = false, groups: [PathGroup]
    ) {
        self.name = name
        self.wwid = wwid
        self.sysfsName = sysfsName
        self.majorMinor = majorMinor
        self.openCount = openCount
        self.queueing = queueing
        self.groups = groups
    }

    /// Every path of every group.
    public var paths: [MapPath] { groups.flatMap(\.paths) }

    /// Paths the kernel has not failed.
    public var validPaths: Int { paths.filter { $0.kernelState == .active }.count }
}

/// A path group of a map.
public struct PathGroup: Sendable, Hashable, Codable {
    /// The kernel's view of the group.
    public enum State: String, Sendable, Hashable, Codable {
        /// `A`: the group I/O goes to now.
        case active
        /// `E`: can be switched to.
        case enabled
        /// `D`: bypassed.
        case disabled
    }

    /// State letter of `dmsetup status`.
    public var state: State
    /// Path selector from the table (`service-time 0`).
    public var selector: String?
    /// Paths of the group.
    public var paths: [MapPath]

    /// Creates a group.
    public init(state: State, selector: String? = nil, paths: [MapPath]) {
        self.state = state
        self.selector = selector
        self.paths = paths
    }
}

/// A path of a map: a SCSI disk as dm sees it.
public struct MapPath: Sendable, Hashable, Codable {
    /// The kernel's A/F state.
    public enum KernelState: String, Sendable, Hashable, Codable {
        /// `A`
        case active
        /// `F`
        case failed
    }

    /// `major:minor` (`8:16`), as dm names it.
    public var majorMinor: String
    /// Kernel name (`sdb`), when resolved.
    public var device: String?
    /// A or F.
    public var kernelState: KernelState
    /// The kernel's failure count since the table was loaded.
    public var failCount: Int
    /// multipathd's checker state (`ready`, `faulty`, `i/o pending`, …) when asked.
    public var checkerState: String?

    /// Creates a path.
    public init(majorMinor: String, device: String? = nil, kernelState: KernelState, failCount: Int = 0, checkerState: String? = nil) {
        self.majorMinor = majorMinor
        self.device = device
        self.kernelState = kernelState
        self.failCount = failCount
        self.checkerState = checkerState
    }
}

/// A SCSI disk from sysfs.
public struct SCSIDevice: Sendable, Hashable, Codable {
    /// `sdb`
    public var name: String
    /// `H:C:T:L`
    public var hctl: String?
    /// `major:minor`
    public var majorMinor: String?
    /// `running`, `offline`, `blocked`, `transport-offline`, …
    public var state: String
    /// INQUIRY vendor, trimmed.
    public var vendor: String?
    /// INQUIRY model, trimmed.
    public var model: String?
    /// The iSCSI session it belongs to (`sessionN`'s N), if it is an iSCSI disk.
    public var sessionID: Int?

    /// Creates a SCSI device.
    public init(
        name: String, hctl: String? = nil, majorMinor: String? = nil, state: String, vendor: String? = nil, model: String? = nil,
        sessionID: Int? = nil
    ) {
        self.name = name
        self.hctl = hctl
        self.majorMinor = majorMinor
        self.state = state
        self.vendor = vendor
        self.model = model
        self.sessionID = sessionID
    }
}

/// An iSCSI session from sysfs (`iscsi_session`, `iscsi_connection`, `iscsi_host`).
public struct ISCSISession: Sendable, Hashable, Codable {
    /// The `N` of `sessionN`.
    public var id: Int
    /// Target IQN.
    public var target: String
    /// Portal address (persistent address of the connection).
    public var portalAddress: String?
    /// Portal port.
    public var portalPort: Int?
    /// open-iscsi iface name.
    public var iface: String?
    /// The NIC the session runs over (iscsi_host netdev).
    public var netdev: String?
    /// `LOGGED_IN`, `FAILED`, `FREE`. FREE on a logged-in node means lost (lab finding).
    public var state: String
    /// The recovery timeout in effect (multipathd overwrites it with fast_io_fail_tmo).
    public var recoveryTmo: Int?
    /// SCSI disks of this session.
    public var devices: [String]

    /// Creates a session.
    public init(
        id: Int, target: String, portalAddress: String? = nil, portalPort: Int? = nil, iface: String? = nil, netdev: String? = nil,
        state: String, recoveryTmo: Int? = nil, devices: [String] = []
    ) {
        self.id = id
        self.target = target
        self.portalAddress = portalAddress
        self.portalPort = portalPort
        self.iface = iface
        self.netdev = netdev
        self.state = state
        self.recoveryTmo = recoveryTmo
        self.devices = devices
    }

    /// `address:port`, brackets for IPv6.
    public var portal: String? {
        guard let portalAddress else { return nil }
        let host = portalAddress.contains(":") ? "[\(portalAddress)]" : portalAddress
        return portalPort.map { "\(host):\($0)" } ?? host
    }

    /// Whether the session carries I/O now.
    public var isLoggedIn: Bool { state == "LOGGED_IN" }
}

/// An open-iscsi iface file.
public struct IfaceFile: Sendable, Hashable, Codable {
    /// Iface name (the file name).
    public var name: String
    /// `iface.net_ifacename`, nil when empty or `<empty>`.
    public var netIfaceName: String?
    /// `iface.hwaddress`, nil when empty, `<empty>` or `default`.
    public var hwAddress: String?
    /// `iface.transport_name`.
    public var transport: String?

    /// Creates an iface file.
    public init(name: String, netIfaceName: String? = nil, hwAddress: String? = nil, transport: String? = nil) {
        self.name = name
        self.netIfaceName = netIfaceName
        self.hwAddress = hwAddress
        self.transport = transport
    }
}

/// A network interface from sysfs.
public struct NIC: Sendable, Hashable, Codable {
    /// `eth1`
    public var name: String
    /// `operstate`: `up`, `down`, `lowerlayerdown`, `unknown`, …
    public var operstate: String
    /// `carrier` (nil when unreadable: an interface that is down has none).
    public var carrier: Bool?

    /// Creates a NIC.
    public init(name: String, operstate: String, carrier: Bool?) {
        self.name = name
        self.operstate = operstate
        self.carrier = carrier
    }

    /// Whether it can carry traffic. `unknown` counts as up (veth and some drivers report it).
    public var isUp: Bool { (operstate == "up" || operstate == "unknown") && carrier != false }
}

/// A SAN management host and its reachability.
public struct SANHostState: Sendable, Hashable, Codable {
    /// Host name or address.
    public var host: String
    /// TCP port probed.
    public var port: Int
    /// Result of the last probe (nil: never probed).
    public var reachable: Bool?
    /// Connect time of the last successful probe, in seconds.
    public var latency: Double?
    /// When it last failed (Eucalyptus skips a host for 5 minutes after a failure).
    public var lastFailure: Date?
    /// Failed probes in a row.
    public var consecutiveFailures: Int

    /// Creates a SAN host state.
    public init(host: String, port: Int, reachable: Bool? = nil, latency: Double? = nil, lastFailure: Date? = nil, consecutiveFailures: Int = 0) {
        self.host = host
        self.port = port
        self.reachable = reachable
        self.latency = latency
        self.lastFailure = lastFailure
        self.consecutiveFailures = consecutiveFailures
    }
}

/// A TCP probe of a portal through one NIC (SO_BINDTODEVICE).
public struct PortalProbe: Sendable, Hashable, Codable {
    /// `address:port`.
    public var portal: String
    /// The NIC the probe left by.
    public var nic: String
    /// Result.
    public var reachable: Bool
    /// Failed probes in a row.
    public var consecutiveFailures: Int
    /// Connect time in seconds.
    public var latency: Double?

    /// Creates a probe result.
    public init(portal: String, nic: String, reachable: Bool, consecutiveFailures: Int = 0, latency: Double? = nil) {
        self.portal = portal
        self.nic = nic
        self.reachable = reachable
        self.consecutiveFailures = consecutiveFailures
        self.latency = latency
    }
}

extension SANHostState {
    /// Records a probe: the connect time, or nil when it failed.
    public mutating func record(latency probeLatency: Double?, at time: Date) {
        if let probeLatency {
            reachable = true
            latency = probeLatency
            consecutiveFailures = 0
        } else {
            reachable = false
            consecutiveFailures += 1
            lastFailure = time
        }
    }
}

extension PortalProbe {
    /// Records a probe: the connect time, or nil when it failed.
    public mutating func record(latency probeLatency: Double?) {
        reachable = probeLatency != nil
        latency = probeLatency ?? latency
        consecutiveFailures = probeLatency == nil ? consecutiveFailures + 1 : 0
    }
}
