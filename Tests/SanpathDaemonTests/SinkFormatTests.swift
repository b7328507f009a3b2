import Foundation
import Logging
import SanpathDaemon
import SanpathHealth
import Testing

@Suite("stdout and log sinks")
struct SinkFormatTests {
    @Test("stdout: exactly one JSON line per event, in DESIGN's shape")
    func stdoutLine() async throws {
        let writer = InMemoryLineWriter()
        let sink = StdoutEventSink(writer: writer)
        try await sink.deliver(AlertSamples.nicDown())
        try await sink.deliver(AlertSamples.nicDown(.resolved))
        #expect(writer.lines.count == 2)
        for line in writer.lines { #expect(!line.contains("\n")) }

        let object = try jsonObject(writer.lines[0])
        #expect(Set(object.keys) == ["time", "state", "kind", "summary", "maps", "paths", "id", "alertKey", "severity", "startedAt"])
        #expect(object["state"] as? String == "firing")
        #expect(object["kind"] as? String == "nic-down")
        #expect(object["alertKey"] as? String == "nic-down:eth1")
        #expect(object["severity"] as? String == "warning")
        #expect(object["maps"] as? [String] == ["mpatha", "mpathb"])
        #expect(object["time"] as? String == "2026-05-28T20:26:40.125Z")
        #expect(object["startedAt"] as? String == "2026-05-28T20:26:40.125Z")
        let paths = try #require(object["paths"] as? [[String: Any]])
        #expect(paths.count == 2)
        #expect(paths[0]["device"] as? String == "sdb")
        #expect(paths[0]["nic"] as? String == "eth1")
        #expect(paths[0]["portal"] as? String == "10.108.1.200:3260")
        // unknown parts are null, not missing
        #expect(Set(paths[1].keys) == ["device", "map", "iface", "nic", "portal", "target"])
        #expect(paths[1]["iface"] is NSNull)

        let resolved = try jsonObject(writer.lines[1])
        #expect(resolved["state"] as? String == "resolved")
        #expect(resolved["time"] as? String == "2026-05-28T20:28:10.125Z")
        // DESIGN's keys come first, in its order
        #expect(writer.lines[0].hasPrefix(#"{"time":"#))
    }

    @Test(
        "log sink under systemd: syslog priority by severity, resolved is info",
        arguments: [
            (Severity.critical, AlertEvent.State.firing, "<2>"),
            (.warning, .firing, "<4>"),
            (.info, .firing, "<6>"),
            (.critical, .resolved, "<6>"),
            (.warning, .resolved, "<6>"),
        ])
    func journalPrefix(severity: Severity, state: AlertEvent.State, prefix: String) async throws {
        let writer = InMemoryLineWriter()
        try await LogSink(writer: writer, style: .journal).deliver(AlertSamples.nicDown(state, severity: severity))
        let line = try #require(writer.lines.first)
        #expect(writer.lines.count == 1)
        #expect(line.hasPrefix(prefix))
        #expect(line.contains("alert \(state.rawValue): "))
        #expect(line.contains("alert_key=nic-down:eth1"))
        #expect(line.contains("maps=mpatha,mpathb"))
        #expect(line.contains("severity=\(severity.rawValue)"))
    }

    @Test("log sink under systemd keeps a multi-line summary on one line")
    func journalOneLine() async throws {
        let writer = InMemoryLineWriter()
        var event = AlertSamples.nicDown()
        event.summary = "first line\nsecond line"
        try await LogSink(writer: writer, style: .journal).deliver(event)
        #expect(writer.lines.count == 1)
        #expect(!writer.lines[0].contains("\n"))
        #expect(writer.lines[0].contains(#"first line\nsecond line"#))
        // a value with spaces is quoted, so key=value pairs stay apart
        #expect(writer.lines[0].contains(#"paths="sdb (mpatha) via iface1/eth1 to 10.108.1.200:3260,sdd (mpathb)""#))
    }

    @Test("log sink elsewhere: one JSON object per line")
    func jsonLog() async throws {
        let writer = InMemoryLineWriter()
        try await LogSink(writer: writer, style: .json).deliver(AlertSamples.nicDown(severity: .critical))
        let object = try jsonObject(try #require(writer.lines.first))
        #expect(object["level"] as? String == "critical")
        #expect(object["message"] as? String == "alert firing: NIC eth1 is down: 2 paths of mpatha, mpathb lost")
        #expect(object["alert_key"] as? String == "nic-down:eth1")
        #expect(object["alert_id"] as? String == "nic-down:eth1@1780000000125/firing")
        #expect(object["maps"] as? [String] == ["mpatha", "mpathb"])
        #expect(object["time"] as? String == "2026-05-28T20:26:40.125Z")
        #expect(writer.lines[0].hasPrefix(#"{"time":"#))
    }

    @Test(
        "systemd is recognised by JOURNAL_STREAM or INVOCATION_ID",
        arguments: [
            ([String: String](), LogStyle.json),
            (["JOURNAL_STREAM": "8:12345"], .journal),
            (["INVOCATION_ID": "0123456789abcdef"], .journal),
            (["HOME": "/root", "TERM": "xterm"], .json),
        ])
    func styleDetection(environment: [String: String], style: LogStyle) {
        #expect(LogStyle.detect(environment: environment) == style)
    }

    @Test("the daemon's log handler renders like the log sink, with metadata and the error")
    func logHandler() throws {
        let writer = InMemoryLineWriter()
        var logger = Logger(label: "sanpath.monitor") { DaemonLogHandler(label: $0, style: .json, writer: writer) }
        logger[metadataKey: "map"] = "mpatha"
        logger.warning("path failed", metadata: ["path": "sdb", "message": "collides"])
        logger.debug("below the level")

        var journalLogger = Logger(label: "sanpath.monitor") { DaemonLogHandler(label: $0, style: .journal, writer: writer) }
        journalLogger.logLevel = .debug
        journalLogger.error("cannot read", metadata: ["file": "/sys/block/sdb/device/state"])

        #expect(writer.lines.count == 2)
        let object = try jsonObject(writer.lines[0])
        #expect(object["level"] as? String == "warning")
        #expect(object["logger"] as? String == "sanpath.monitor")
        #expect(object["message"] as? String == "path failed")
        #expect(object["map"] as? String == "mpatha")
        #expect(object["path"] as? String == "sdb")
        #expect(object["meta_message"] as? String == "collides")
        #expect(writer.lines[1] == "<3>cannot read file=/sys/block/sdb/device/state")
    }
}
