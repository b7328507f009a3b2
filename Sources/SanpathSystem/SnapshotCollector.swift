import Foundation
import Logging
import SanpathCore
import SanpathHealth
import Synchronization

/// Puts a `Snapshot` together from device-mapper, sysfs, the iface files and (when given)
/// multipathd. SAN host and portal probes are left to their own schedule.
public struct SnapshotCollector: Sendable {
    /// A full collection and how long it took.
    public struct Collection: Sendable {
        /// What was seen.
        public var snapshot: Snapshot
        /// Wall time of the whole collection.
        public var duration: Duration
    }

    /// Device-mapper.
    public var deviceMapper: any DeviceMapperSource
    /// sysfs.
    public var sysfs: SysfsReader
    /// open-iscsi's iface files.
    public var ifaceFiles: IfaceFilesReader
    /// multipathd's socket; nil: do not ask (checker states stay nil, `multipathdRunning` nil).
    public var multipathd: (any MultipathdClient)?
    /// Whether a full collection asks multipathd too (`sanpath status`). The daemon asks it on its
    /// own schedule (`askMultipathd()`), so that a slow multipathd (`show maps json` takes a
    /// few hundred milliseconds at 64 maps, seconds during a reconfigure) never holds up a scan.
    public var multipathdInCollection = true
    /// Skipped maps and a silent multipathd are logged here.
    public var logger: Logger
    /// The maps the last full scans parsed, by what device-mapper said of them.
    public var parsedMaps = ParsedMapCache()

    /// Creates a collector.
    public init(
        deviceMapper: any DeviceMapperSource, sysfs: SysfsReader = SysfsReader(), ifaceFiles: IfaceFilesReader = IfaceFilesReader(),
        multipathd: (any MultipathdClient)?, logger: Logger
    ) {
        self.deviceMapper = deviceMapper
        self.sysfs = sysfs
        self.ifaceFiles = ifaceFiles
        self.multipathd = multipathd
        self.logger = logger
    }

    /// Everything: maps with each path's disk name and checker state, SCSI disks, sessions,
    /// ifaces, NICs and whether multipathd answered. Throws only when device-mapper itself fails
    /// (a map that vanishes mid-collection is left out).
    public func collect() async throws -> Snapshot {
        try await timedCollect().snapshot
    }

    /// `collect()`, with how long it took. Device-mapper (on its actor), sysfs (on this task)
    /// and multipathd (when `multipathdInCollection`) are read at the same time.
    public func timedCollect() async throws -> Collection {
        let clock = ContinuousClock()
        let start = clock.now
        async let checker = timed { multipathdInCollection ? await askMultipathd() : MultipathdView(maps: nil, running: nil) }
        async let readings = timed { try await deviceMapper.multipathMaps() }
        let block = sysfs.listing(of: "block")
        let scsiDevices = sysfs.scsiDevices(in: block)
        let disksDone = clock.now
        let sessions = sysfs.sessions(devices: scsiDevices)
        let sessionsDone = clock.now
        let ifaces = ifaceFiles.ifaces()
        let ifacesDone = clock.now
        let nics = sysfs.nics()
        let sysfsDone = clock.now
        let (dmReadings, deviceMapperTime) = try await readings
        let readingsDone = clock.now
        // the paths' disks were just read: name them from that, not from sysfs again
        let diskNames = Dictionary(scsiDevices.values.compactMap { disk in disk.majorMinor.map { ($0, disk.name) } }, uniquingKeysWith: { a, _ in a })
        // a map's block device is dm-MINOR (device-mapper names every one so): when /sys/block lists it, no readlink
        let dmNames = Set(block.lazy.map(\.name).filter { $0.hasPrefix("dm-") })
        var maps: [MultipathMap] = []
        for reading in dmReadings {
            if let map = try await readMap(reading, dmNames: dmNames) { maps.append(withDevices(map, known: diskNames)) }
        }
        parsedMaps.prune(keeping: Set(dmReadings.map(\.device.name)))
        let mapsDone = clock.now
        let (view, multipathdTime) = await checker
        var snapshot = Snapshot(time: Date(), maps: maps, scsiDevices: scsiDevices, sessions: sessions, ifaces: ifaces, nics: nics)
        if multipathdInCollection { view.apply(to: &snapshot) }
        logger.debug(
            "full collection",
            metadata: [
                "maps": "\(maps.count)", "total_ms": "\(Self.milliseconds(clock.now - start))",
                "devicemapper_ms": "\(Self.milliseconds(deviceMapperTime))", "sysfs_ms": "\(Self.milliseconds(sysfsDone - start))",
                "disks_ms": "\(Self.milliseconds(disksDone - start))", "sessions_ms": "\(Self.milliseconds(sessionsDone - disksDone))",
                "ifaces_ms": "\(Self.milliseconds(ifacesDone - sessionsDone))", "nics_ms": "\(Self.milliseconds(sysfsDone - ifacesDone))",
                "dm_wait_ms": "\(Self.milliseconds(readingsDone - sysfsDone))", "parse_ms": "\(Self.milliseconds(mapsDone - readingsDone))",
                "multipathd_ms": multipathdInCollection ? "\(Self.milliseconds(multipathdTime))" : "not asked",
            ])
        return Collection(snapshot: snapshot, duration: clock.now - start)
    }

    /// The event fast path: re-reads one map's dm status, the sysfs state of its paths' disks and
    /// sessions, and the NICs, into `snapshot`. The table is read again only when the paths changed (a
    /// reload); a map that no longer exists is removed. Checker states of unchanged paths are kept.
    public func refresh(mapNamed name: String, in snapshot: Snapshot) async throws -> Snapshot {
        var snapshot = snapshot
        guard let index = snapshot.maps.firstIndex(where: { $0.name == name }) else {
            // A map the last collection did not see: read it whole.
            guard let device = try await deviceMapper.multipathDevices().first(where: { $0.name == name }),
                let map = try await readMap(device)
            else { return snapshot }
            snapshot.maps.append(withDevices(map))
            refreshDisks(of: snapshot.maps[snapshot.maps.count - 1], in: &snapshot)
            snapshot.time = Date()
            return snapshot
        }
        var map = snapshot.maps[index]
        let statusLine: String
        do {
            statusLine = try await deviceMapper.status(of: name)
        } catch let error as SanpathError where error.code == .mapNotFound {
            snapshot.maps.remove(at: index)
            snapshot.time = Date()
            return snapshot
        }
        let status = try MultipathStatus(parsing: statusLine, map: name)
        let samePaths = status.groups.map { $0.paths.map(\.majorMinor) } == map.groups.map { $0.paths.map(\.majorMinor) }
        if samePaths {
            map.groups = zip(map.groups, status.groups).map { old, new in
                var group = old
                group.state = new.state
                group.paths = zip(old.paths, new.paths).map { oldPath, newPath in
                    var path = oldPath
                    path.kernelState = newPath.kernelState
                    path.failCount = newPath.failCount
                    return path
                }
                return group
            }
        } else {
            let table = try MultipathTable(parsing: try await deviceMapper.table(of: name), map: name)
            let groups = try status.pathGroups(table: table, map: name)
            let checker = Dictionary(map.paths.map { ($0.majorMinor, $0.checkerState) }, uniquingKeysWith: { first, _ in first })
            map.groups = groups.map { group in
                var group = group
                group.paths = group.paths.map { path in
                    var path = path
                    path.checkerState = checker[path.majorMinor] ?? nil
                    return path
                }
                return group
            }
            map.queueing = table.queueIfNoPath
            map = withDevices(map)
        }
        snapshot.maps[index] = map
        refreshDisks(of: map, in: &snapshot)
        snapshot.nics = sysfs.nics()
        snapshot.time = Date()
        return snapshot
    }

    /// A map from the full scan's reading; read again (status and table) when a reload between
    /// the two made them disagree.
    private func readMap(_ reading: DMMapReading, dmNames: Set<String>) async throws -> MultipathMap? {
        do {
            let minor = reading.device.majorMinor.split(separator: ":").last.map { "dm-\($0)" }
            let sysfsName = minor.flatMap { dmNames.contains($0) ? $0 : nil } ?? sysfs.blockDevice(majorMinor: reading.device.majorMinor)
            if let map = parsedMaps.map(of: reading, sysfsName: sysfsName) { return map }
            let map = try MultipathMap(device: reading.device, status: reading.status, table: reading.table, sysfsName: sysfsName)
            parsedMaps.remember(map, of: reading, sysfsName: sysfsName)
            return map
        } catch let error as SanpathError where error.code == .malformedReply {
            logger.debug("map changed while being read; reading again", metadata: ["map": "\(reading.device.name)", "error": "\(error)"])
            return try await readMap(reading.device)
        }
    }

    /// Reads one map; nil when it vanished, retried once when a reload made status and table disagree.
    private func readMap(_ device: DMDevice) async throws -> MultipathMap? {
        for attempt in 1...2 {
            do {
                let status = try await deviceMapper.status(of: device.name)
                let table = try await deviceMapper.table(of: device.name)
                let sysfsName = sysfs.blockDevice(majorMinor: device.majorMinor)
                return try MultipathMap(device: device, status: status, table: table, sysfsName: sysfsName)
            } catch let error as SanpathError where error.code == .mapNotFound {
                logger.debug("map vanished during the collection", metadata: ["map": "\(device.name)"])
                return nil
            } catch let error as SanpathError where error.code == .malformedReply && attempt == 1 {
                logger.debug("map changed while being read; reading again", metadata: ["map": "\(device.name)", "error": "\(error)"])
            }
        }
        return nil
    }

    /// The map with each path's disk name resolved (from `known`, by major:minor, else sysfs).
    private func withDevices(_ map: MultipathMap, known: [String: String] = [:]) -> MultipathMap {
        var map = map
        map.groups = map.groups.map { group in
            var group = group
            group.paths = group.paths.map { path in
                var path = path
                path.device = path.device ?? known[path.majorMinor] ?? sysfs.blockDevice(majorMinor: path.majorMinor)
                return path
            }
            return group
        }
        return map
    }

    /// Re-reads the state of the map's disks and of their sessions.
    private func refreshDisks(of map: MultipathMap, in snapshot: inout Snapshot) {
        var sessionIDs: Set<Int> = []
        for name in map.paths.compactMap(\.device) {
            if let device = sysfs.scsiDevice(named: name) {
                snapshot.scsiDevices[name] = device
                if let id = device.sessionID { sessionIDs.insert(id) }
            } else {
                snapshot.scsiDevices.removeValue(forKey: name)
            }
        }
        for id in sessionIDs {
            guard let index = snapshot.sessions.firstIndex(where: { $0.id == id }) else {
                if let session = sysfs.session(id: id, devices: snapshot.scsiDevices) { snapshot.sessions.append(session) }
                continue
            }
            if let state = sysfs.sessionState(of: id) {
                snapshot.sessions[index].state = state
            } else {
                snapshot.sessions.remove(at: index)
            }
        }
    }

    private func timed<T: Sendable>(_ body: () async throws -> T) async rethrows -> (T, Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        let value = try await body()
        return (value, clock.now - start)
    }

    static func milliseconds(_ duration: Duration) -> String {
        String(format: "%.1f", Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15)
    }

    /// multipathd's checker states (`show paths raw format …`), and whether it answered; both nil when
    /// the collector has no multipathd client.
    public func askMultipathd() async -> MultipathdView {
        guard let multipathd else { return MultipathdView(maps: nil, running: nil) }
        do {
            let reply = try await multipathd.command(MultipathdMaps.pathsCommand)
            return MultipathdView(maps: try MultipathdMaps(paths: reply), running: true)
        } catch let error as SanpathError where error.code == .malformedReply {
            logger.warning("multipathd answered, but not with the JSON sanpath reads", metadata: ["error": "\(error)"])
            return MultipathdView(maps: nil, running: true)
        } catch let error as SanpathError where (error.underlying as? MultipathdSocket.Errno)?.code == ETIMEDOUT {
            // it took the command but did not answer in time: busy (a reconfigure of many maps holds it
            // for seconds), not stopped; unknown is never reported as down
            logger.log(
                level: multipathdInCollection ? .info : .debug, "multipathd took the command but did not answer in time; checker states and whether it runs unknown",
                metadata: ["error": "\(error)"])
            return MultipathdView(maps: nil, running: nil)
        } catch {
            // refused or no socket: nothing listens. The daemon asks every resync: it says so once, when multipathd stops answering
            logger.log(
                level: multipathdInCollection ? .info : .debug, "multipathd did not answer; checker states unknown",
                metadata: ["error": "\(error)"])
            return MultipathdView(maps: nil, running: false)
        }
    }
}

/// What multipathd said about the maps: its path checkers' states, and whether it runs.
public struct MultipathdView: Sendable {
    /// `show maps json`, parsed; nil when multipathd did not answer (or was not asked).
    public var maps: MultipathdMaps?
    /// Whether multipathd answered; false when nothing listens on its socket, nil when it was not
    /// asked or took the command without answering in time (busy: unknown, not down).
    public var running: Bool?

    /// Creates a view.
    public init(maps: MultipathdMaps?, running: Bool?) {
        self.maps = maps
        self.running = running
    }

    /// Sets every path's checker state (nil where multipathd does not know the path) and
    /// whether multipathd runs.
    public func apply(to snapshot: inout Snapshot) {
        snapshot.multipathdRunning = running
        snapshot.maps = snapshot.maps.map { map in
            var map = map
            map.groups = map.groups.map { group in
                var group = group
                group.paths = group.paths.map { path in
                    var path = path
                    path.checkerState = maps?.checkerState(map: map.name, majorMinor: path.majorMinor)
                    return path
                }
                return group
            }
            return map
        }
    }
}

/// Each map as the last full scan parsed it, with the device-mapper reading (identity, open count,
/// status and table text) and block device name it was parsed from: a map whose reading is the same
/// text is the same map, and is not parsed again (a pure function of what is compared; nothing is
/// assumed about what cannot change).
public final class ParsedMapCache: Sendable {
    private struct Parsed {
        var reading: DMMapReading
        var sysfsName: String?
        var map: MultipathMap
    }

    private let maps = Mutex<[String: Parsed]>([:])

    /// An empty cache.
    public init() {}

    /// The map parsed from this same reading, or nil.
    public func map(of reading: DMMapReading, sysfsName: String?) -> MultipathMap? {
        maps.withLock { maps in
            guard let parsed = maps[reading.device.name], parsed.reading == reading, parsed.sysfsName == sysfsName else { return nil }
            return parsed.map
        }
    }

    /// Remembers what `reading` parsed into.
    public func remember(_ map: MultipathMap, of reading: DMMapReading, sysfsName: String?) {
        maps.withLock { $0[reading.device.name] = Parsed(reading: reading, sysfsName: sysfsName, map: map) }
    }

    /// Forgets every map not in `names`.
    public func prune(keeping names: Set<String>) {
        maps.withLock { maps in maps = maps.filter { names.contains($0.key) } }
    }
}
