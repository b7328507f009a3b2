import SanpathHealth

/// The kernel's device-mapper, as sanpath needs it. The real one goes through libdevmapper
/// (one owner: libdevmapper is not thread-safe); the fake replays captured `dmsetup` lines.
public protocol DeviceMapperSource: Sendable {
    /// Every device of target type `multipath`: name, UUID, major:minor, open count.
    func multipathDevices() async throws -> [DMDevice]
    /// The status parameters of a map, as `dmsetup status` prints them after `start length multipath`.
    func status(of name: String) async throws -> String
    /// The table parameters of a map, as `dmsetup table` prints them after `start length multipath`.
    func table(of name: String) async throws -> String
}

/// A device-mapper device.
public struct DMDevice: Sendable, Hashable {
    /// dm name.
    public var name: String
    /// dm UUID (`mpath-<wwid>` for multipath maps).
    public var uuid: String
    /// `major:minor`.
    public var majorMinor: String
    /// Open count.
    public var openCount: Int

    /// Creates a device.
    public init(name: String, uuid: String, majorMinor: String, openCount: Int) {
        self.name = name
        self.uuid = uuid
        self.majorMinor = majorMinor
        self.openCount = openCount
    }
}

/// A block-device event from udev or the kernel (netlink).
public struct UdevEvent: Sendable, Hashable {
    /// `add`, `remove`, `change`, …
    public var action: String
    /// Kernel name (`dm-0`, `sdb`).
    public var sysname: String
    /// The event's properties (`DM_ACTION`, `DM_PATH`, `DM_NR_VALID_PATHS`, `DM_NAME`, `SEQNUM`, …).
    public var properties: [String: String]
    /// When sanpath received it (CLOCK_MONOTONIC seconds, comparable with `udevadm monitor`'s stamps).
    public var receivedMonotonic: Double

    /// Creates an event.
    public init(action: String, sysname: String, properties: [String: String], receivedMonotonic: Double) {
        self.action = action
        self.sysname = sysname
        self.properties = properties
        self.receivedMonotonic = receivedMonotonic
    }
}

/// A stream of block-device events. The real one is a libudev netlink monitor; when the kernel's
/// buffer overflows (ENOBUFS) it yields `.overflow` so the caller resyncs.
public protocol UdevEventSource: Sendable {
    /// Events until the task is cancelled.
    func events() -> AsyncStream<UdevStreamItem>
}

/// What an event source yields.
public enum UdevStreamItem: Sendable, Hashable {
    /// An event.
    case event(UdevEvent)
    /// Events were lost; state must be re-read from scratch.
    case overflow
}

/// multipathd's command socket (`multipathd show maps json`, …).
public protocol MultipathdClient: Sendable {
    /// Sends one command and returns the reply; throws when multipathd is not running.
    func command(_ command: String) async throws -> String
}

/// TCP connect probes (SAN management hosts, portals through a given NIC).
public protocol ConnectProber: Sendable {
    /// Connects to host:port within `timeout` seconds, optionally bound to a NIC
    /// (SO_BINDTODEVICE); returns the connect time in seconds, or nil when it failed.
    func connect(host: String, port: Int, timeout: Double, device: String?) async -> Double?
}
