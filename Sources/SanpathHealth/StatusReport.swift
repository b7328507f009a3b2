import Foundation

/// What `sanpath status` and `/status` show: the snapshot, read through the site.
public struct StatusReport: Sendable, Codable {
    /// One path as a row.
    public struct PathRow: Sendable, Codable, Hashable {
        /// The path.
        public var path: PathRef
        /// Kernel A/F.
        public var kernel: String
        /// multipathd's checker state.
        public var checker: String?
        /// SCSI disk state.
        public var disk: String?
        /// Session id and state.
        public var session: String?
        /// Path group number (1-based) and state.
        public var group: String
        /// Kernel failure count.
        public var failCount: Int
        /// Whether the health model counts it lost.
        public var lost: Bool
    }

    /// One map.
    public struct MapRow: Sendable, Codable, Hashable {
        /// dm name.
        public var name: String
        /// WWID.
        public var wwid: String
        /// Valid paths.
        public var validPaths: Int
        /// Paths the site expects (nil for maps of other arrays).
        public var expectedPaths: Int?
        /// Whether I/O queues without paths.
        public var queueing: Bool
        /// Openers.
        public var openCount: Int
        /// Its paths.
        public var paths: [PathRow]
    }

    /// Profile name (`equallogic nc`).
    public var profile: String
    /// When the snapshot was taken.
    public var time: Date
    /// Whether multipathd answered on its socket (nil: not asked, or no answer in time).
    public var multipathdRunning: Bool?
    /// Worst severity of the findings (nil: healthy).
    public var worst: Severity?
    /// Maps.
    public var maps: [MapRow]
    /// Sessions.
    public var sessions: [ISCSISession]
    /// Site ifaces with their files and NIC state.
    public var ifaces: [IfaceRow]
    /// SAN hosts, the active one marked.
    public var sanHosts: [SANHostRow]
    /// Findings, worst first.
    public var findings: [Finding]
    /// The findings grouped by root cause, as the daemon alerts on them.
    public var causes: [AlertCandidate]
    /// Alerts firing (daemon only).
    public var alerts: [AlertEvent]?

    /// A site iface and what the host has for it.
    public struct IfaceRow: Sendable, Codable, Hashable {
        /// Iface name.
        public var iface: String
        /// NIC from STORAGE_INTERFACES.
        public var nic: String
        /// NIC the iface file binds (nil: none).
        public var boundTo: String?
        /// NIC operstate.
        public var operstate: String?
        /// Carrier.
        public var carrier: Bool?
    }

    /// A SAN management host.
    public struct SANHostRow: Sendable, Codable, Hashable {
        /// The probe state.
        public var state: SANHostState
        /// Whether Eucalyptus would use it now.
        public var active: Bool
    }

    /// Builds the report.
    public init(model: HealthModel, snapshot: Snapshot, findings: [Finding], alerts: [AlertEvent]? = nil) {
        profile = "\(model.site.vendor.rawValue) \(model.site.role.rawValue)"
        time = snapshot.time
        multipathdRunning = snapshot.multipathdRunning
        worst = findings.map(\.severity).max()
        self.findings = findings
        self.alerts = alerts
        // the daemon's firing alerts hold the paths of causes that are over (see AlertGrouping)
        let firing = (alerts ?? []).filter { $0.state == .firing }.map {
            AlertCandidate(key: $0.alertKey, kind: $0.kind, severity: $0.severity, summary: $0.summary, maps: $0.maps, paths: $0.paths)
        }
        causes = AlertGrouping.candidates(findings, snapshot: snapshot, model: model, firing: firing)
        sessions = snapshot.sessions.sorted { $0.id < $1.id }
        maps = snapshot.maps.sorted { $0.name < $1.name }.map { map in
            var rows: [PathRow] = []
            for (index, group) in map.groups.enumerated() {
                for path in group.paths {
                    let ref = model.pathRef(path, map: map, in: snapshot)
                    let session = path.device.flatMap { snapshot.session(of: $0) }
                    rows.append(
                        PathRow(
                            path: ref, kernel: path.kernelState == .active ? "active" : "failed", checker: path.checkerState,
                            disk: path.device.flatMap { snapshot.scsiDevices[$0]?.state },
                            session: session.map { "\($0.id) \($0.state)" }, group: "\(index + 1) \(group.state.rawValue)",
                            failCount: path.failCount, lost: model.isLost(path, in: snapshot)))
                }
            }
            return MapRow(
                name: map.name, wwid: map.wwid, validPaths: map.validPaths,
                expectedPaths: model.isSiteMap(map, in: snapshot) ? model.expectedPathsPerMap : nil, queueing: map.queueing,
                openCount: map.openCount, paths: rows)
        }
        ifaces = model.site.interfaces.map { binding in
            let nic = snapshot.nics[binding.nic]
            return IfaceRow(
                iface: binding.iface, nic: binding.nic, boundTo: snapshot.ifaces.first { $0.name == binding.iface }?.netIfaceName,
                operstate: nic?.operstate, carrier: nic?.carrier)
        }
        let active = model.activeSANHost(snapshot)?.host
        sanHosts = snapshot.sanHosts.map { SANHostRow(state: $0, active: $0.host == active) }
    }

    /// The table a person reads at a glance.
    public func table(color: Bool = false) -> String {
        let (bold, red, yellow, green, reset) =
            color ? ("\u{1B}[1m", "\u{1B}[31m", "\u{1B}[33m", "\u{1B}[32m", "\u{1B}[0m") : ("", "", "", "", "")
        func paint(_ severity: Severity?) -> String {
            switch severity {
            case .critical?: red
            case .warning?: yellow
            default: green
            }
        }
        let verdict = worst.map { $0 == .critical ? "CRITICAL" : $0 == .warning ? "WARNING" : "OK" } ?? "OK"
        let totalPaths = maps.reduce(0) { $0 + $1.paths.count }
        let upPaths = maps.reduce(0) { $0 + $1.paths.filter { !$0.lost }.count }
        var out = "\(bold)sanpath status\(reset) (\(profile)): \(paint(worst))\(verdict)\(reset) · \(maps.count) map(s), "
        out += "\(upPaths)/\(totalPaths) paths up, \(sessions.filter(\.isLoggedIn).count)/\(sessions.count) sessions logged in"
        if !sanHosts.isEmpty { out += ", SAN hosts \(sanHosts.filter { $0.state.reachable == true }.count)/\(sanHosts.count) up" }
        if multipathdRunning == false { out += ", \(red)multipathd not running\(reset)" }
        out += "\n"

        // one grid for every path so columns line up across maps; a line per map above its paths
        var grid: [[String]] = [["", "DISK", "DM", "CHECKER", "IFACE", "NIC", "PORTAL", "SESSION", "GROUP"]]
        for map in maps {
            for path in map.paths {
                grid.append([
                    path.lost ? "LOST" : "", path.path.device, path.kernel, path.checker ?? "-", path.path.iface ?? "-",
                    path.path.nic ?? "-", path.path.portal ?? "-", path.session ?? "-", path.group,
                ])
            }
        }
        let lines = StatusReport.align(grid).split(separator: "\n", omittingEmptySubsequences: false)
        out += "\n  " + lines[0] + "\n"
        var row = 1
        for map in maps {
            let expected = map.expectedPaths.map { "/\($0)" } ?? ""
            let severity: Severity? = map.validPaths == 0 ? .critical : map.validPaths < (map.expectedPaths ?? 0) ? .warning : nil
            out += "\(bold)\(map.name)\(reset) \(map.wwid)  \(paint(severity))\(map.validPaths)\(expected) paths\(reset)"
            out += (map.queueing ? ", queue_if_no_path" : "") + (map.openCount > 0 ? ", open \(map.openCount)" : "") + "\n"
            for _ in map.paths {
                out += "  " + lines[row] + "\n"
                row += 1
            }
        }
        if !ifaces.isEmpty {
            var ifaceRows = [["IFACE", "NIC", "BOUND TO", "NIC STATE"]]
            for row in ifaces {
                ifaceRows.append([
                    row.iface, row.nic, row.boundTo ?? "(none)",
                    (row.operstate ?? "missing") + (row.carrier == false ? ", no carrier" : ""),
                ])
            }
            out += "\n" + StatusReport.align(ifaceRows)
        }
        if !sanHosts.isEmpty {
            var hostRows = [["SAN HOST", "PORT", "STATE", "LATENCY", ""]]
            for row in sanHosts {
                let state = row.state.reachable.map { $0 ? "up" : "down" } ?? "not probed"
                let latency = row.state.latency.map { String(format: "%.1f ms", $0 * 1000) } ?? "-"
                hostRows.append([row.state.host, "\(row.state.port)", state, latency, row.active ? "active" : ""])
            }
            out += "\n" + StatusReport.align(hostRows)
        }
        out += "\n"
        if findings.isEmpty {
            out += "\(green)No findings.\(reset)\n"
        } else {
            out += "\(bold)CAUSES\(reset)\n"
            for cause in causes {
                out += "\(paint(cause.severity))\(cause.severity.rawValue.uppercased())\(reset) \(cause.kind): \(cause.summary)\n"
            }
            out += "\(bold)FINDINGS\(reset)\n"
            for finding in findings {
                out += "\(paint(finding.severity))\(finding.severity.rawValue.uppercased())\(reset) \(finding.kind.rawValue): \(finding.summary)\n"
            }
        }
        return out
    }

    static func align(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { column in
            rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").replacing(/\s+$/, with: "")
        }.joined(separator: "\n") + "\n"
    }

    /// JSON for scripts.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// Nagios/Icinga plugin output: a status line with perfdata, and the exit code
/// (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
public struct NagiosReport: Sendable {
    /// Thresholds per map, as check-multipath's --min-paths and --ok-paths.
    public struct Thresholds: Sendable, Hashable {
        /// CRITICAL when a map has fewer valid paths than this.
        public var minPaths: Int
        /// WARNING when a map has fewer valid paths than this (nil: the site's path count).
        public var okPaths: Int?

        /// Creates thresholds.
        public init(minPaths: Int = 1, okPaths: Int? = nil) {
            self.minPaths = minPaths
            self.okPaths = okPaths
        }
    }

    /// The first line (status text | perfdata) and further lines.
    public var output: String
    /// 0, 1, 2 or 3.
    public var exitCode: Int32

    /// Builds the report from a status report.
    public init(_ report: StatusReport, thresholds: Thresholds) {
        var critical: [String] = []
        var warning: [String] = []
        var perfdata: [String] = []
        for map in report.maps {
            let ok = thresholds.okPaths ?? map.expectedPaths ?? map.paths.count
            if map.validPaths < thresholds.minPaths {
                critical.append("\(map.name) \(map.validPaths)/\(ok) paths")
            } else if map.validPaths < ok {
                warning.append("\(map.name) \(map.validPaths)/\(ok) paths")
            }
            perfdata.append("'\(map.name)'=\(map.validPaths);\(ok):;\(thresholds.minPaths):;0;\(max(ok, map.paths.count))")
        }
        // findings that are not about a map's path count
        for finding in report.findings
        where ![.mapDegraded, .mapNoPath, .pathLost, .sessionDown].contains(finding.kind) {
            switch finding.severity {
            case .critical: critical.append(finding.summary)
            case .warning: warning.append(finding.summary)
            case .info: break
            }
        }
        let upHosts = report.sanHosts.filter { $0.state.reachable == true }.count
        if !report.sanHosts.isEmpty { perfdata.append("'san_hosts_up'=\(upHosts);;1:;0;\(report.sanHosts.count)") }
        let paths = report.maps.flatMap(\.paths)
        perfdata.append("'paths_up'=\(paths.filter { !$0.lost }.count);;;0;\(paths.count)")
        let status: String
        if !critical.isEmpty {
            status = "CRITICAL"
            exitCode = 2
        } else if !warning.isEmpty {
            status = "WARNING"
            exitCode = 1
        } else {
            status = "OK"
            exitCode = 0
        }
        let problems = critical + warning
        let text =
            problems.isEmpty
            ? "\(report.maps.count) map(s), \(paths.count) path(s) up" : problems.joined(separator: "; ")
        output = "SANPATH \(status) - \(text) | \(perfdata.joined(separator: " "))\n"
    }

    /// UNKNOWN: the check could not look.
    public static func unknown(_ reason: String) -> NagiosReport {
        NagiosReport(output: "SANPATH UNKNOWN - \(reason)\n", exitCode: 3)
    }

    init(output: String, exitCode: Int32) {
        self.output = output
        self.exitCode = exitCode
    }
}
