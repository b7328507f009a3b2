import Foundation
import SanpathHealth

@testable import SanpathSystem

/// Captured material in Fixtures/ (copied into the test bundle).
enum Fixture {
    /// The Fixtures folder.
    static var root: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }

    /// A file's text.
    static func text(_ relative: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
    }

    /// Whether a file or folder exists.
    static func exists(_ relative: String) -> Bool {
        FileManager.default.fileExists(atPath: root.appendingPathComponent(relative).path)
    }

    /// The lines of a `--- title` section of a lab demo log (up to the next `--- ` line).
    static func section(_ title: String, of text: String) -> [String] {
        var lines: [String] = []
        var inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("--- ") {
                if inside { break }
                inside = line == "--- \(title)"
                continue
            }
            if inside { lines.append(String(line)) }
        }
        return lines
    }

    /// The parameters after `name: start length multipath` of a `dmsetup status`/`table` line.
    static func params(_ line: String) -> String {
        let words = line.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: true)
        return words.count == 5 ? String(words[4]) : ""
    }

    /// The healthy 2-path map of the lab demo: (status params, table params).
    static func demoMap() throws -> (status: String, table: String) {
        let lines = section("dmsetup status / table", of: try text("examples/demo-states.txt"))
        return (params(lines[0]), params(lines[1]))
    }

    /// The lab demo's `multipathd show maps json` reply.
    static func demoMapsJSON() throws -> String {
        section("multipathd show maps json", of: try text("examples/demo-states.txt")).joined(separator: "\n")
    }

    /// dm-lines/dm-lines.txt: per `### section`, the status and table parameters of each map.
    static func dmLines() throws -> [String: (status: [String: String], table: [String: String])] {
        var sections: [String: (status: [String: String], table: [String: String])] = [:]
        var title = ""
        var part = ""
        var lines: [String: [String]] = [:]
        func flush() {
            guard !title.isEmpty else { return }
            sections[title] = (
                CapturedDeviceMapper.multipathParams(dmsetupOutput: (lines["status"] ?? []).joined(separator: "\n")),
                CapturedDeviceMapper.multipathParams(dmsetupOutput: (lines["table"] ?? []).joined(separator: "\n"))
            )
        }
        for line in try text("dm-lines/dm-lines.txt").split(separator: "\n") {
            if line.hasPrefix("### ") {
                flush()
                title = String(line.dropFirst(4))
                lines = [:]
            } else if line == "# dmsetup status" {
                part = "status"
            } else if line == "# dmsetup table" {
                part = "table"
            } else {
                lines[part, default: []].append(String(line))
            }
        }
        flush()
        return sections
    }

    /// A map's groups in one line, `queue_if_no_path | A service-time 0: 8:16 A 0, … | E …`, for table-driven tests.
    static func summary(queueing: Bool, groups: [PathGroup]) -> String {
        let letters: [PathGroup.State: String] = [.active: "A", .enabled: "E", .disabled: "D"]
        let described = groups.map { group in
            "\(letters[group.state]!) \(group.selector ?? "-"): "
                + group.paths.map { "\($0.majorMinor) \($0.kernelState == .active ? "A" : "F") \($0.failCount)" }.joined(separator: ", ")
        }
        return ([queueing ? "queue_if_no_path" : "no"] + described).joined(separator: " | ")
    }
}
