import SanpathCore
import Synchronization

/// A device-mapper that replays captured `dmsetup status` / `dmsetup table` lines, for tests of
/// anything built on `DeviceMapperSource`. States can be swapped while a test runs.
public actor FakeDeviceMapper: DeviceMapperSource {
    /// One map: identity plus its status and table parameters.
    public typealias Map = DMMapReading

    /// The maps, in listing order.
    public private(set) var maps: [Map]

    /// Creates a fake holding `maps`.
    public init(maps: [Map]) {
        self.maps = maps
    }

    /// Maps from captured `dmsetup status` and `dmsetup table` output; each map's UUID and
    /// major:minor come from a captured sysfs tree (`block/dm-N/dm/name`, `dm/uuid`, `dev`), its
    /// open count is 0 (not captured). Maps missing from either output or from sysfs are left out.
    public init(dmsetupStatus: String, dmsetupTable: String, sysfs: SysfsReader) {
        let status = Self.multipathParams(dmsetupOutput: dmsetupStatus)
        let table = Self.multipathParams(dmsetupOutput: dmsetupTable)
        let kernelNames = Dictionary(sysfs.deviceMapperNames().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        self.maps = status.keys.sorted().compactMap { name in
            guard let statusParams = status[name], let tableParams = table[name], let kernelName = kernelNames[name],
                let uuid = sysfs.value(of: "block/\(kernelName)/dm/uuid"), let dev = sysfs.value(of: "block/\(kernelName)/dev")
            else { return nil }
            return Map(device: DMDevice(name: name, uuid: uuid, majorMinor: dev, openCount: 0), status: statusParams, table: tableParams)
        }
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
        guard let index = maps.firstIndex(where: { $0.device.name == name }) else { throw Self.missing(name) }
        maps[index].status = status
    }

    /// Removes a map (flushed).
    public func remove(_ name: String) {
        maps.removeAll { $0.device.name == name }
    }

    private func map(_ name: String) throws -> Map {
        guard let map = maps.first(where: { $0.device.name == name }) else { throw Self.missing(name) }
        return map
    }

    private static func missing(_ name: String) -> SanpathError {
        SanpathError(.mapNotFound, "device-mapper has no map named '\(name)' (removed, or never created)")
    }

    /// The multipath lines of `dmsetup status` or `dmsetup table` output (`mpatha: 0 131072 multipath …`),
    /// as map name → parameters after the target type. Other targets and other text are left out.
    public static func multipathParams(dmsetupOutput: String) -> [String: String] {
        var params: [String: String] = [:]
        for line in dmsetupOutput.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let words = line[line.index(after: colon)...].split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
            guard words.count >= 3, words[2] == "multipath", UInt64(words[0]) != nil, UInt64(words[1]) != nil else { continue }
            params[String(line[..<colon])] = words.count == 4 ? String(words[3]) : ""
        }
        return params
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

/// A multipathd that answers from a table of captured replies, or is not running.
public struct FakeMultipathd: MultipathdClient {
    /// Reply text by command; nil: multipathd is not running.
    public var replies: [String: String]?

    /// Creates a fake; `replies` nil acts like a stopped multipathd.
    public init(replies: [String: String]?) {
        self.replies = replies
    }

    /// The captured reply, `fail` for a command it has none for (as multipathd answers an unknown
    /// command), or `.multipathd` when not running.
    public func command(_ command: String) async throws -> String {
        guard let replies else {
            throw SanpathError(.multipathd, "multipathd is not running (fake)")
        }
        return replies[command] ?? "fail\n"
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
