import SanpathCore

/// A device-mapper that replays a captured host's `dmsetup status` / `dmsetup table` lines:
/// what `sanpath status --root DIR` reads a host captured in the field or the lab with (a product
/// feature, not a test fake: the same readers as the live collector, over files).
public struct CapturedDeviceMapper: DeviceMapperSource {
    /// One map: identity plus its status and table parameters.
    public typealias Map = DMMapReading

    /// The maps, in listing order.
    public let maps: [Map]

    /// Replays `maps`.
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

    private func map(_ name: String) throws -> Map {
        guard let map = maps.first(where: { $0.device.name == name }) else { throw Self.missing(name) }
        return map
    }

    /// The error for a map that is not there.
    public static func missing(_ name: String) -> SanpathError {
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

/// A multipathd that answers from a captured host's replies (`multipathd-show-maps.json`), or
/// is not running: `status --root` reads it.
public struct CapturedMultipathd: MultipathdClient {
    /// Reply text by command; nil: multipathd is not running.
    public var replies: [String: String]?

    /// Replays `replies`; nil acts like a stopped multipathd.
    public init(replies: [String: String]?) {
        self.replies = replies
    }

    /// A captured host's multipathd: its `show paths raw format` reply when the capture has one,
    /// else its `show maps json` (captures made before the daemon asked for paths), whose
    /// paths answer the paths command field for field. nil when neither was captured.
    public static func captured(pathsReply: String?, mapsJSON: String?) throws -> CapturedMultipathd? {
        if let pathsReply { return CapturedMultipathd(replies: [MultipathdMaps.pathsCommand: pathsReply]) }
        guard let mapsJSON else { return nil }
        return CapturedMultipathd(replies: [MultipathdMaps.pathsCommand: try MultipathdMaps(json: mapsJSON).pathsReply, "show maps json": mapsJSON])
    }

    /// The captured reply, `fail` for a command it has none for (as multipathd answers an unknown
    /// command), or `.multipathd` when not running.
    public func command(_ command: String) async throws -> String {
        guard let replies else {
            throw SanpathError(.multipathd, "multipathd is not running (none was captured)")
        }
        return replies[command] ?? "fail\n"
    }
}
