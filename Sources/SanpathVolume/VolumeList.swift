import SanpathHealth
import SanpathSystem

/// One attached volume: its map, and each path with its session, portal, iface and NIC.
public struct AttachedVolume: Sendable, Hashable, Codable {
    /// One path of the map.
    public struct Path: Sendable, Hashable, Codable {
        /// SCSI disk (`sdc`).
        public var disk: String
        /// `H:C:T:L`.
        public var hctl: String?
        /// The disk's state (`running`, `blocked`, `transport-offline`, …).
        public var state: String
        /// The iSCSI session.
        public var session: Int?
        /// Target IQN.
        public var target: String?
        /// `address:port`.
        public var portal: String?
        /// open-iscsi iface.
        public var iface: String?
        /// NIC.
        public var nic: String?
        /// Session state (`LOGGED_IN`, `FAILED`, `FREE`).
        public var sessionState: String?
    }

    /// WWID.
    public var wwid: String
    /// dm name.
    public var map: String
    /// Kernel name (`dm-3`).
    public var dm: String
    /// `/dev/disk/by-id/dm-uuid-mpath-<wwid>`.
    public var device: String
    /// Paths, in kernel order.
    public var paths: [Path]
    /// What holds it open.
    public var holders: [DeviceHolder]
}

/// Lists the attached volumes from sysfs, udev's links and /proc: no multipath or iscsiadm call.
public struct VolumeLister: Sendable {
    /// The host.
    public var host: VolumeHost

    /// Creates a lister.
    public init(host: VolumeHost) { self.host = host }

    /// Every dm-multipath map on the host.
    public func volumes() -> [AttachedVolume] {
        let devices = host.sysfs.scsiDevices()
        let sessions = Dictionary(host.sysfs.sessions(devices: devices).map { ($0.id, $0) }) { a, _ in a }
        let scan = HolderScan(procRoot: host.procRoot)
        return host.maps().map { map in
            let paths = host.sysfs.slaves(of: map.device).map { disk -> AttachedVolume.Path in
                let device = devices[disk]
                let session = device?.sessionID.flatMap { sessions[$0] }
                return AttachedVolume.Path(
                    disk: disk, hctl: device?.hctl, state: device?.state ?? "gone", session: device?.sessionID, target: session?.target,
                    portal: session?.portal, iface: session?.iface, nic: session?.netdev, sessionState: session?.state)
            }
            let holders = host.sysfs.value(of: "block/\(map.device)/dev").map { number in
                scan.holders(
                    of: map.device, majorMinor: number, sysfsHolders: { host.sysfs.entries(of: "block/\($0)/holders").sorted() },
                    majorMinorOf: { host.sysfs.value(of: "block/\($0)/dev") })
            } ?? []
            return AttachedVolume(
                wwid: map.wwid, map: map.name, dm: map.device, device: "\(host.devRoot)/disk/by-id/dm-uuid-mpath-\(map.wwid)",
                paths: paths, holders: holders)
        }
    }
}
