import Foundation

/// A trace's result as text for an admin and as JSON with the same content.
public struct TraceReport: Sendable {
    /// The id asked about.
    public var id: String
    /// Each volume's trace.
    public var volumes: [VolumeTrace]
    /// The live view per volume id.
    public var live: [String: LiveView]
    /// How many files were read.
    public var filesRead: Int

    /// Creates a report.
    public init(id: String, volumes: [VolumeTrace], live: [String: LiveView], filesRead: Int) {
        self.id = id
        self.volumes = volumes
        self.live = live
        self.filesRead = filesRead
    }

    /// The text view.
    public func text() -> String {
        var out: [String] = []
        for trace in volumes {
            let title = trace.instance.map { "\(trace.volume) (instance \($0))" } ?? trace.volume
            out.append("VOLUME \(title): \(trace.lineCount) lines in \(filesRead) files")
            if trace.lineCount == 0 { out.append("  no line mentions it") }
            for operation in trace.operations {
                let when = operation.start.map { " at \($0)" } ?? ""
                let state = operation.problem.map { "stopped at \($0.hop.rawValue) (\($0.status.rawValue))" } ?? "ok"
                out.append("")
                out.append("\(operation.kind.rawValue.uppercased())\(when): \(operation.inferred ? "no line; inferred" : state)")
                for hop in operation.hops {
                    let mark: String
                    switch hop.status {
                    case .seen: mark = "ok     "
                    case .failed: mark = "FAILED "
                    case .missing: mark = "MISSING"
                    case .unseen: mark = "-      "
                    }
                    out.append("  \(mark) \(hop.hop.rawValue) (\(hop.hop.loggedBy))")
                    for evidence in hop.evidence {
                        out.append("          \(evidence.time)  \(evidence.position)  \(evidence.level): \(evidence.text.clipped(140))")
                    }
                }
            }
            out.append("")
            if let problem = trace.verdict {
                out.append("PROBLEM: \(problem.operation.rawValue) stopped at \(problem.hop.rawValue) (\(problem.status.rawValue)) — cause: \(problem.cause.rawValue)")
                out.append("  \(problem.summary)")
                out.append("NEXT:")
                for (index, step) in problem.next.enumerated() { out.append("  \(index + 1). \(step)") }
            } else {
                out.append("PROBLEM: none — every operation went through the hops its logs show.")
            }
            for note in trace.notes { out.append("NOTE: \(note)") }
            switch live[trace.volume] {
            case .seen(let target, let lun, let view)?:
                let where_ = "\(target)" + (lun.map { " LUN \($0)" } ?? "")
                if view.isEmpty {
                    out.append("LIVE (\(where_)): nothing left on this host: no session, map, node record or path.")
                } else {
                    out.append("LIVE (\(where_)): still on this host:")
                    for (name, items) in [("session", view.sessions), ("map", view.maps), ("node record", view.nodeRecords), ("path", view.paths)] {
                        for item in items { out.append("  \(name): \(item)") }
                    }
                }
            case .unavailable(let reason)?: out.append("live view: not available on this host (\(reason))")
            case nil: break
            }
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    /// The JSON view: `{"id", "filesRead", "volumes": [{"volume", "instance", "verdict": {…}|null,
    /// "operations": [{"kind", "start", "inferred", "problem", "hops": [{"hop", "loggedBy", "status",
    /// "evidence": [{"file", "line", "time", "host", "level", "text"}]}]}], "notes", "live"}]}`.
    public func json() -> String {
        func evidence(_ e: Evidence) -> [String: Any] {
            ["file": e.position.file, "line": e.position.line, "time": e.time.description, "host": e.host, "level": e.level, "text": e.text]
        }
        func problem(_ p: Problem?) -> Any {
            guard let p else { return NSNull() }
            return [
                "operation": p.operation.rawValue, "hop": p.hop.rawValue, "status": p.status.rawValue, "cause": p.cause.rawValue,
                "summary": p.summary, "next": p.next, "evidence": p.evidence.map(evidence),
            ] as [String: Any]
        }
        let volumes: [[String: Any]] = self.volumes.map { trace in
            var live: Any = NSNull()
            switch self.live[trace.volume] {
            case .seen(let target, let lun, let view)?:
                live = [
                    "available": true, "target": target, "lun": lun as Any? ?? NSNull(), "sessions": view.sessions, "maps": view.maps,
                    "nodeRecords": view.nodeRecords, "paths": view.paths,
                ] as [String: Any]
            case .unavailable(let reason)?: live = ["available": false, "reason": reason] as [String: Any]
            case nil: break
            }
            return [
                "volume": trace.volume, "instance": trace.instance ?? NSNull(), "lines": trace.lineCount, "verdict": problem(trace.verdict),
                "scHosts": trace.scHosts, "notes": trace.notes, "target": trace.target ?? NSNull(), "lun": trace.lun ?? NSNull(), "live": live,
                "operations": trace.operations.map { operation in
                    [
                        "kind": operation.kind.rawValue, "start": operation.start?.description ?? NSNull(), "inferred": operation.inferred,
                        "problem": problem(operation.problem),
                        "hops": operation.hops.map { hop in
                            [
                                "hop": hop.hop.rawValue, "loggedBy": hop.hop.loggedBy, "status": hop.status.rawValue,
                                "evidence": hop.evidence.map(evidence),
                            ] as [String: Any]
                        },
                    ] as [String: Any]
                },
            ]
        }
        let object: [String: Any] = ["id": id, "filesRead": filesRead, "volumes": volumes]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

extension String {
    func clipped(_ limit: Int) -> String { count <= limit ? self : String(prefix(limit - 1)) + "…" }
}
