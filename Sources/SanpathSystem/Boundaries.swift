import SanpathCore
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
    /// Every multipath map with its status and table parameters, read in one go (the full scan).
    /// Status and table are two reads: a reload between them can make them disagree.
    func multipathMaps() async throws -> [DMMapReading]
}

extension DeviceMapperSource {
    /// `multipathDevices()`, then `status(of:)` and `table(of:)` of each; a map gone meanwhile is left out.
    public func multipathMaps() async throws -> [DMMapReading] {
        var readings: [DMMapReading] = []
        for device in try await multipathDevices() {
            do {
                readings.append(DMMapReading(device: device, status: try await status(of: device.name), table: try await table(of: device.name)))
            } catch let error as SanpathError where error.code == .mapNotFound {
                continue
            }
        }
        return readings
    }
}

/// One multipath map as device-mapper described it.
public struct DMMapReading: Sendable, Hashable {
    /// The device.
    public var device: DMDevice
    /// Status parameters (after `start length multipath`).
    public var status: String
    /// Table parameters (after `start length multipath`).
    public var table: String

    /// Creates a reading.
    public init(device: DMDevice, status: String, table: String) {
        self.device = device
        self.status = status
        self.table = table
    }
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
