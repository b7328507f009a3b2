import Foundation
import Logging
import SanpathHealth

/// Alerts as log lines on stderr: under systemd with a syslog priority prefix journald
/// understands (`<2>` critical, `<4>` warning, `<6>` info and every resolved alert), otherwise
/// one JSON object per line.
public struct LogSink: AlertSink {
    /// `log`.
    public let name = "log"

    private let writer: any LineWriter
    private let style: LogStyle

    /// A sink writing to `writer` (stderr by default) in `style` (detected from the environment by default).
    public init(writer: any LineWriter = FileDescriptorLineWriter.standardError, style: LogStyle = .detect()) {
        self.writer = writer
        self.style = style
    }

    /// The log level of an event: its severity while firing, info once resolved.
    public static func level(of event: AlertEvent) -> Logger.Level {
        guard event.state == .firing else { return .info }
        switch event.severity {
        case .critical: return .critical
        case .warning: return .warning
        case .info: return .info
        }
    }

    /// Writes the event as one line.
    public func deliver(_ event: AlertEvent) async throws {
        let metadata: Logger.Metadata = [
            "alert_id": .string(event.id),
            "alert_key": .string(event.alertKey),
            "state": .string(event.state.rawValue),
            "kind": .string(event.kind),
            "severity": .string(event.severity.rawValue),
            "maps": .array(event.maps.map { .string($0) }),
            "paths": .array(event.paths.map { .string($0.description) }),
            "started_at": .string(AlertEventJSON.timestamp(event.startedAt)),
        ]
        let line = LogLine.render(
            style: style, level: LogSink.level(of: event), message: "alert \(event.state.rawValue): \(event.summary)",
            metadata: metadata, time: event.time)
        try writer.write(line: line)
    }
}

/// Alerts on stdout for scripts: exactly one JSON line per event, in `AlertEventJSON`'s shape
/// (`sanpath monitor | jq`).
public struct StdoutEventSink: AlertSink {
    /// `stdout`.
    public let name = "stdout"

    private let writer: any LineWriter

    /// A sink writing to `writer` (stdout by default).
    public init(writer: any LineWriter = FileDescriptorLineWriter.standardOutput) {
        self.writer = writer
    }

    /// Writes the event as one JSON line.
    public func deliver(_ event: AlertEvent) async throws {
        try writer.write(line: AlertEventJSON.line(event))
    }
}
