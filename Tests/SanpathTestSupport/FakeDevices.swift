import SanpathCore
import SanpathSystem
import Synchronization

/// A device-mapper whose maps a test swaps while it runs (a path failing, a map flushed).
public actor FakeDeviceMapper: DeviceMapperSource {
    /// One map: identity plus its status and table parameters.
    public typealias Map = DMMapReading

    /// The maps, in listing order.
    public private(set) var maps: [Map]

    /// Creates a fake holding `maps`.
    public init(maps: [Map]) {
        self.maps = maps
    }

    /// The maps of captured `dmsetup` output (see `CapturedDeviceMapper`).
    public init(dmsetupStatus: String, dmsetupTable: String, sysfs: SysfsReader) {
        self.maps = CapturedDeviceMapper(dmsetupStatus: dmsetupStatus, dmsetupTable: dmsetupTable, sysfs: sysfs).maps
    }

    /// Every map's identity.
    public func multipathDevices() async throws -> [DMDevice] { maps.map(\.device) }

    /// A map's status, or `.mapNotFound`.
    public func status(of name: String) async throws -> String { try map(name).status }

    /// A map's table, or `.mapNotFound`.
    public func table(of name: String) async throws -> String { try map(name).table }

    /// Replaces a map's status (a path failing), or adds the map.
    public func set(_ map: Map) {
        if let index = maps.firstIndex(where: { $0.device.name == map.device.name }) {
            maps[index] = map
        } else {
            maps.append(map)
        }
    }

    /// Replaces a map's status line only.
    public func setStatus(_ status: String, of name: String) throws {
        guard let index = maps.firstIndex(where: { $0.device.name == name }) else { throw CapturedDeviceMapper.missing(name) }
        maps[index].status = status
    }

    /// Removes a map (flushed).
    public func remove(_ name: String) {
        maps.removeAll { $0.device.name == name }
    }

    private func map(_ name: String) throws -> Map {
        guard let map = maps.first(where: { $0.device.name == name }) else { throw CapturedDeviceMapper.missing(name) }
        return map
    }

    /// See `CapturedDeviceMapper.multipathParams`.
    public static func multipathParams(dmsetupOutput: String) -> [String: String] {
        CapturedDeviceMapper.multipathParams(dmsetupOutput: dmsetupOutput)
    }
}

/// A udev source fed by the test: `send` events and overflows; each `events()` call gets a stream
/// of everything sent after it.
public final class FakeUdevSource: UdevEventSource {
    private let continuations = Mutex<[Int: AsyncStream<UdevStreamItem>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    /// Creates a source with no listener.
    public init() {}

    /// A stream of what is sent from now on.
    public func events() -> AsyncStream<UdevStreamItem> {
        let (stream, continuation) = AsyncStream.makeStream(of: UdevStreamItem.self)
        let id = nextID.add(1, ordering: .relaxed).newValue
        continuation.onTermination = { [weak self] _ in _ = self?.continuations.withLock { $0.removeValue(forKey: id) } }
        continuations.withLock { $0[id] = continuation }
        return stream
    }

    /// Delivers an item to every open stream.
    public func send(_ item: UdevStreamItem) {
        for continuation in continuations.withLock({ Array($0.values) }) { continuation.yield(item) }
    }

    /// Ends every open stream.
    public func finish() {
        for continuation in continuations.withLock({ Array($0.values) }) { continuation.finish() }
    }

    /// How many streams are open (a consumer that was cancelled has closed its own).
    public var listeners: Int { continuations.withLock { $0.count } }

    /// The events of a captured `udevadm monitor --kernel --udev --property` log that came from
    /// `source` (`KERNEL[…]` or `UDEV  […]` blocks), with the log's uptime stamps as receipt
    /// times, so a test can replay what a real path cut sent. Lines starting with `#` are skipped.
    public static func events(udevadmMonitor log: String, source: NetlinkUdevSource.Source = .kernel) -> [UdevEvent] {
        let header = source == .kernel ? "KERNEL[" : "UDEV  ["
        var events: [UdevEvent] = []
        var stamp: Double?
        var properties: [String: String] = [:]
        func flush() {
            if let time = stamp, let action = properties["ACTION"], let path = properties["DEVPATH"] {
                let sysname = path.split(separator: "/").last.map(String.init) ?? path
                events.append(UdevEvent(action: action, sysname: sysname, properties: properties, receivedMonotonic: time))
            }
            stamp = nil
            properties = [:]
        }
        for line in log.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("KERNEL[") || line.hasPrefix("UDEV  [") {
                flush()
                if line.hasPrefix(header), let close = line.firstIndex(of: "]") {
                    stamp = Double(line[line.index(line.startIndex, offsetBy: header.count)..<close])
                }
            } else if line.isEmpty || line.hasPrefix("#") {
                flush()
            } else if stamp != nil, let equals = line.firstIndex(of: "=") {
                properties[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
        }
        flush()
        return events
    }
}

/// A prober with fixed answers by `host:port` (and NIC); unknown targets fail.
public struct FakeConnectProber: ConnectProber {
    /// Connect times by `host:port` or `host:port%nic`; a missing key or nil value fails.
    public var latencies: [String: Double?]

    /// Creates a prober.
    public init(latencies: [String: Double?]) {
        self.latencies = latencies
    }

    /// The configured latency.
    public func connect(host: String, port: Int, timeout: Double, device: String?) async -> Double? {
        let key = "\(host):\(port)"
        if let device, let value = latencies["\(key)%\(device)"] { return value }
        return latencies[key] ?? nil
    }
}
