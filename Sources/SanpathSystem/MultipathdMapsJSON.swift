import Foundation
import SanpathCore
import SanpathHealth

/// The reply to `multipathd show maps json` (libmultipath print.c, schema 0.1), reduced to what
/// sanpath merges into a snapshot: per map, per path device, multipathd's three states.
public struct MultipathdMaps: Sendable, Hashable {
    /// What multipathd says about one path.
    public struct PathState: Sendable, Hashable {
        /// `sdb`
        public var device: String
        /// `8:16`
        public var majorMinor: String
        /// dm state as multipathd last saw it: `active`, `failed`, `undef`.
        public var dmState: String
        /// SCSI device state: `running`, `offline`, …
        public var deviceState: String
        /// Checker state: `ready`, `faulty`, `shaky`, `ghost`, `i/o pending`, `i/o timeout`, `delayed`, …
        public var checkerState: String
    }

    /// One map.
    public struct Map: Sendable, Hashable {
        /// dm name.
        public var name: String
        /// WWID.
        public var uuid: String
        /// `dm-N`.
        public var sysfsName: String?
        /// Paths of all groups, in group order.
        public var paths: [PathState]
    }

    /// The schema version (`0.1`).
    public var version: String
    /// Maps by name.
    public var maps: [String: Map]

    /// Parses the reply; throws a `.malformedReply` naming what is missing.
    public init(json: String) throws {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(json.utf8))
        } catch {
            let start = String(json.prefix(80)).trimmingWhitespace()
            throw SanpathError(
                .malformedReply, "multipathd's 'show maps json' reply is not the expected JSON (\(Self.describe(error))); it starts: '\(start)'",
                underlying: error)
        }
        version = "\(document.major_version).\(document.minor_version)"
        var maps: [String: Map] = [:]
        for map in document.maps {
            let paths = (map.path_groups ?? []).flatMap { $0.paths ?? [] }.map {
                PathState(device: $0.dev, majorMinor: $0.dev_t, dmState: $0.dm_st, deviceState: $0.dev_st, checkerState: $0.chk_st)
            }
            maps[map.name] = Map(name: map.name, uuid: map.uuid, sysfsName: map.sysfs, paths: paths)
        }
        self.maps = maps
    }

    /// The checker state of a path of a map, by `major:minor`.
    /// What the daemon asks multipathd for its path checkers' states, as multipath-tools' own
    /// libdmmp asks it (`show paths raw format %d|%T|%w|%g`): one line a path, no header, no
    /// padding, fields split by `|`. A few bytes a path, where `show maps json` is about 1.5 kB a
    /// path: the reply of 64 maps cost the daemon ~0.1 s of CPU to decode under emulation.
    public static let pathsCommand = "show paths raw format %m|%d|%D|%t|%o|%T"

    /// Parses the reply of `pathsCommand`: `map|dev|maj:min|dm state|device state|checker state`
    /// a line. Paths in no map (multipathd writes `[orphan]` or the like) are left out; a line
    /// that is not six fields is a malformed reply (multipathd's `fail`, an older release
    /// that does not know a wildcard).
    public init(paths reply: String) throws {
        version = ""
        var maps: [String: Map] = [:]
        var number = 0
        for line in reply.split(separator: "\n", omittingEmptySubsequences: true) {
            number += 1
            let fields = line.split(separator: "|", maxSplits: 5, omittingEmptySubsequences: false)
            guard fields.count == 6, !fields[0].isEmpty, fields[2].contains(":") else {
                throw SanpathError(
                    .malformedReply,
                    "multipathd's '\(Self.pathsCommand)' reply is not one 'map|dev|maj:min|dm state|device state|checker state' a line: line \(number) is '\(line.prefix(80))'"
                )
            }
            let name = String(fields[0])
            if name.hasPrefix("[") { continue }
            let path = PathState(
                device: String(fields[1]), majorMinor: String(fields[2]), dmState: String(fields[3]), deviceState: String(fields[4]),
                checkerState: String(fields[5]).trimmingWhitespace())
            maps[name, default: Map(name: name, uuid: "", sysfsName: nil, paths: [])].paths.append(path)
        }
        self.maps = maps
    }

    /// These paths as multipathd answers `pathsCommand` (maps by name, paths in their order).
    public var pathsReply: String {
        maps.keys.sorted().flatMap { name in
            maps[name]!.paths.map { "\(name)|\($0.device)|\($0.majorMinor)|\($0.dmState)|\($0.deviceState)|\($0.checkerState)\n" }
        }.joined()
    }

    public func checkerState(map: String, majorMinor: String) -> String? {
        maps[map]?.paths.first { $0.majorMinor == majorMinor }?.checkerState
    }

    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?:
            return "no '\(key.stringValue)' at \(path(context.codingPath))"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            return "unexpected value at \(path(context.codingPath))"
        case .dataCorrupted(let context)?:
            return context.codingPath.isEmpty ? "not JSON" : "bad value at \(path(context.codingPath))"
        default:
            return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "the top" : keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }

    // The JSON's own shape, field names as multipathd writes them.
    private struct Document: Decodable {
        var major_version: Int
        var minor_version: Int
        var maps: [JSONMap]
    }

    private struct JSONMap: Decodable {
        var name: String
        var uuid: String
        var sysfs: String?
        var path_groups: [JSONGroup]?
    }

    private struct JSONGroup: Decodable {
        var paths: [JSONPath]?
    }

    private struct JSONPath: Decodable {
        var dev: String
        var dev_t: String
        var dm_st: String
        var dev_st: String
        var chk_st: String
    }
}
