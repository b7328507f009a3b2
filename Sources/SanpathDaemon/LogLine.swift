import Foundation
import Logging

/// How the daemon's log lines look on stderr.
public enum LogStyle: String, Sendable, Hashable {
    /// Under systemd: `<N>message key=value …`, the `<N>` a syslog priority journald reads
    /// (journald stamps time and unit itself).
    case journal
    /// Anywhere else: one JSON object per line with `time`, `level`, `message` and the metadata.
    case json

    /// `journal` when systemd started the process (it sets `JOURNAL_STREAM` for a journal
    /// stdout/stderr and `INVOCATION_ID` for every unit), `json` otherwise.
    public static func detect(environment: [String: String] = ProcessInfo.processInfo.environment) -> LogStyle {
        environment["JOURNAL_STREAM"] != nil || environment["INVOCATION_ID"] != nil ? .journal : .json
    }
}

/// One log record rendered as one line, in either style. The log sink and the daemon's log
/// handler both render through here, so alerts and ordinary log lines look alike.
public enum LogLine {
    /// The syslog priority of a level: critical 2, error 3, warning 4, notice 5, info 6, debug
    /// and trace 7.
    public static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .critical: 2
        case .error: 3
        case .warning: 4
        case .notice: 5
        case .info: 6
        case .debug, .trace: 7
        }
    }

    /// Renders a record. `label` (the logger's) is kept in JSON only; journald has the unit.
    public static func render(
        style: LogStyle, level: Logger.Level, message: String, metadata: Logger.Metadata, label: String? = nil,
        time: Date = Date()
    ) -> String {
        switch style {
        case .journal:
            var line = "<\(syslogPriority(level))>\(oneLine(message))"
            for key in metadata.keys.sorted() {
                line += " \(key)=\(journalValue(metadata[key]!))"
            }
            return line
        case .json:
            // metadata flat beside time/level/message, as log shippers expect; a metadata key
            // that collides with those is prefixed rather than lost
            var members: [(String, any Encodable)] = [("time", AlertEventJSON.timestamp(time)), ("level", level.rawValue)]
            if let label { members.append(("logger", label)) }
            members.append(("message", message))
            let reserved: Set<String> = ["time", "level", "logger", "message"]
            for key in metadata.keys.sorted() {
                members.append((reserved.contains(key) ? "meta_\(key)" : key, JSONMetadata(metadata[key]!)))
            }
            return JSONLine.object(members)
        }
    }

    /// A journal line must stay one line: control characters would start a new record.
    private static func oneLine(_ text: String) -> String {
        guard text.contains(where: { $0.isNewline || $0 == "\t" }) else { return text }
        var out = ""
        for character in text {
            switch character {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.isNewline: out += " "
            default: out.append(character)
            }
        }
        return out
    }

    private static func journalValue(_ value: Logger.MetadataValue) -> String {
        let text: String
        switch value {
        case .string(let s): text = s
        case .stringConvertible(let s): text = s.description
        case .array(let items): text = items.map { plain($0) }.joined(separator: ",")
        case .dictionary(let entries): text = entries.keys.sorted().map { "\($0):\(plain(entries[$0]!))" }.joined(separator: ",")
        }
        let needsQuotes = text.isEmpty || text.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline || $0 == "\t" }
        guard needsQuotes else { return text }
        return "\"" + oneLine(text).replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    private static func plain(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let s): s
        case .stringConvertible(let s): s.description
        case .array(let items): "[" + items.map { plain($0) }.joined(separator: ",") + "]"
        case .dictionary(let entries): "{" + entries.keys.sorted().map { "\($0):\(plain(entries[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    private struct JSONMetadata: Encodable {
        var value: Logger.MetadataValue

        init(_ value: Logger.MetadataValue) { self.value = value }

        func encode(to encoder: any Encoder) throws {
            switch value {
            case .string(let s):
                var c = encoder.singleValueContainer()
                try c.encode(s)
            case .stringConvertible(let s):
                var c = encoder.singleValueContainer()
                try c.encode(s.description)
            case .array(let items):
                var c = encoder.unkeyedContainer()
                for item in items { try c.encode(JSONMetadata(item)) }
            case .dictionary(let entries):
                var c = encoder.singleValueContainer()
                try c.encode(entries.mapValues(JSONMetadata.init))
            }
        }
    }
}

/// A swift-log handler for the daemon: every record one line on stderr, in the journal or the
/// JSON style. The executable bootstraps it; libraries only take a `Logger`.
public struct DaemonLogHandler: LogHandler {
    /// The handler's metadata.
    public var metadata: Logger.Metadata = [:]
    /// The handler's level.
    public var logLevel: Logger.Level = .info
    /// Task-local metadata, if any.
    public var metadataProvider: Logger.MetadataProvider?

    private let label: String
    private let style: LogStyle
    private let writer: any LineWriter

    /// A handler for `label`, writing to `writer` (stderr by default) in `style`.
    public init(
        label: String, style: LogStyle = .detect(), writer: any LineWriter = FileDescriptorLineWriter.standardError,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.label = label
        self.style = style
        self.writer = writer
        self.metadataProvider = metadataProvider
    }

    /// Reads or sets one metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one record; a failed write of a log line has nowhere to be reported, so it is dropped.
    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        if let error = event.error { merged["error"] = .string("\(error)") }
        let line = LogLine.render(style: style, level: event.level, message: event.message.description, metadata: merged, label: label)
        try? writer.write(line: line)
    }
}
