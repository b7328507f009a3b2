import Foundation
import SanpathHealth

/// The JSON form of an alert event that leaves the process: the stdout line, the generic webhook
/// body, `SANPATH_ALERT_JSON`. DESIGN's keys first (`time`, `state`, `kind`, `summary`, `maps`,
/// `paths`), then identity (`id`, `alertKey`, `severity`, `startedAt`). Times are ISO 8601 in UTC
/// with milliseconds; every path has all six keys, `null` where unknown, so consumers need no
/// key checks.
public enum AlertEventJSON {
    /// The event as one line of JSON (no newline at the end).
    public static func line(_ event: AlertEvent) -> String {
        JSONLine.object([
            ("time", timestamp(event.time)),
            ("state", event.state.rawValue),
            ("kind", event.kind),
            ("summary", event.summary),
            ("maps", event.maps),
            ("paths", JSONLine.Raw("[" + event.paths.map(path).joined(separator: ",") + "]")),
            ("id", event.id),
            ("alertKey", event.alertKey),
            ("severity", event.severity.rawValue),
            ("startedAt", timestamp(event.startedAt)),
        ])
    }

    /// The event as JSON bytes.
    public static func data(_ event: AlertEvent) -> Data {
        Data(line(event).utf8)
    }

    /// `2026-02-03T10:00:00.123Z`: the time format of every sink.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(timeStyle)
    }

    private static let timeStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    // All six keys, `null` where unknown.
    private static func path(_ path: PathRef) -> String {
        JSONLine.object([
            ("device", path.device), ("map", path.map), ("iface", path.iface), ("nic", path.nic), ("portal", path.portal),
            ("target", path.target),
        ])
    }
}

/// JSON objects with their keys in a chosen order. Foundation's encoder orders keys by hash on
/// Linux (or alphabetically); a line a person reads should lead with what matters.
public enum JSONLine {
    /// Text that is already JSON, put in as it is.
    public struct Raw: Encodable, Sendable {
        /// The JSON text.
        public var json: String
        /// Wraps JSON text.
        public init(_ json: String) { self.json = json }
        /// Never called: `object` writes the text itself.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(json)
        }
    }

    /// `{"k1":v1,"k2":v2,…}` in the given order; each value encoded on its own (a nil optional is `null`).
    public static func object(_ members: [(String, any Encodable)]) -> String {
        "{" + members.map { key, value in fragment(key) + ":" + fragment(value) }.joined(separator: ",") + "}"
    }

    /// One value as JSON text.
    public static func fragment(_ value: any Encodable) -> String {
        if let raw = value as? Raw { return raw.json }
        // Strings, numbers, arrays and dictionaries of them always encode.
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
