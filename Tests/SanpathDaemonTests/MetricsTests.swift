import Foundation
import SanpathDaemon
import SanpathHealth
import Testing

/// A host with two maps: mpatha lost sdb (eth1 is down), mpathb is whole; one SAN host answers,
/// one does not, one was never probed; iface1's file names the wrong NIC.
func metricsSnapshot() -> Snapshot {
    Snapshot(
        maps: [
            MultipathMap(
                name: "mpatha", wwid: "36090a0c8a0a1b2c3d4e5f60000000001", groups: [
                    PathGroup(
                        state: .active, paths: [
                            MapPath(majorMinor: "8:16", device: "sdb", kernelState: .failed, failCount: 3),
                            MapPath(majorMinor: "8:32", device: "sdc", kernelState: .active),
                        ])
                ]),
            MultipathMap(
                name: "mpathb", wwid: "36090a0c8a0a1b2c3d4e5f60000000002", groups: [
                    PathGroup(state: .active, paths: [MapPath(majorMinor: "8:48", kernelState: .active, failCount: 1)])
                ]),
        ],
        scsiDevices: [
            "sdb": SCSIDevice(name: "sdb", state: "transport-offline", sessionID: 1),
            "sdc": SCSIDevice(name: "sdc", state: "running", sessionID: 2),
        ],
        sessions: [
            ISCSISession(id: 1, target: "iqn.2001-05.com.equallogic:vol1", portalAddress: "10.108.1.200", portalPort: 3260, iface: "iface1", netdev: "eth1", state: "FREE", devices: ["sdb"]),
            ISCSISession(id: 2, target: "iqn.2001-05.com.equallogic:vol1", portalAddress: "10.107.1.200", portalPort: 3260, iface: "iface0", netdev: "br0", state: "LOGGED_IN", devices: ["sdc"]),
        ],
        ifaces: [IfaceFile(name: "iface0", netIfaceName: "br0"), IfaceFile(name: "iface1", netIfaceName: "eth2"), IfaceFile(name: "iface2")],
        nics: ["br0": NIC(name: "br0", operstate: "up", carrier: true), "eth1": NIC(name: "eth1", operstate: "down", carrier: false)],
        sanHosts: [
            SANHostState(host: "10.109.1.26", port: 443, reachable: true, latency: 0.0021),
            SANHostState(host: "10.109.1.27", port: 443, reachable: false, consecutiveFailures: 2),
            SANHostState(host: "10.109.1.28", port: 443),
        ])
}

func metricsInput(_ snapshot: Snapshot? = metricsSnapshot()) -> MetricsInput {
    MetricsInput(
        snapshot: snapshot, expectedPaths: ["mpatha": 2, "mpathb": 2], ifaceNICs: ["iface0": "br0", "iface1": "eth1"],
        firingAlerts: [AlertSamples.nicDown(), AlertSamples.numbered(1), AlertSamples.numbered(2)], scanDuration: 0.042,
        events: ["path-failed": 3, "add": 12],
        outbox: [OutboxSinkSummary(sink: "webhook:http://am:9093", pending: 2, delivered: 5, attempts: 4, lastError: "answered 500", nextAttemptAt: nil)],
        version: "0.1.0")
}

/// Samples of an exposition: `name{labels}` → value.
func samples(_ text: String) -> [String: Double] {
    var out: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        out[String(line[..<space])] = value
    }
    return out
}

@Suite("metrics")
struct MetricsTests {
    @Test("every series the daemon promises, with the snapshot's values")
    func series() {
        let text = MetricsExposition.render(metricsInput())
        let values = samples(text)
        let expected: [String: Double] = [
            #"sanpath_path_up{map="mpatha",path="sdb",iface="iface1",nic="eth1",portal="10.108.1.200:3260"}"#: 0,
            #"sanpath_path_up{map="mpatha",path="sdc",iface="iface0",nic="br0",portal="10.107.1.200:3260"}"#: 1,
            // a path whose disk is unknown is named by major:minor
            #"sanpath_path_up{map="mpathb",path="8:48",iface="",nic="",portal=""}"#: 1,
            #"sanpath_path_failures_total{map="mpatha",path="sdb"}"#: 3,
            #"sanpath_path_failures_total{map="mpatha",path="sdc"}"#: 0,
            #"sanpath_path_failures_total{map="mpathb",path="8:48"}"#: 1,
            #"sanpath_map_valid_paths{map="mpatha",wwid="36090a0c8a0a1b2c3d4e5f60000000001"}"#: 1,
            #"sanpath_map_valid_paths{map="mpathb",wwid="36090a0c8a0a1b2c3d4e5f60000000002"}"#: 1,
            #"sanpath_map_expected_paths{map="mpatha",wwid="36090a0c8a0a1b2c3d4e5f60000000001"}"#: 2,
            #"sanpath_map_expected_paths{map="mpathb",wwid="36090a0c8a0a1b2c3d4e5f60000000002"}"#: 2,
            #"sanpath_san_host_up{host="10.109.1.26"}"#: 1,
            #"sanpath_san_host_up{host="10.109.1.27"}"#: 0,
            #"sanpath_san_host_latency_seconds{host="10.109.1.26"}"#: 0.0021,
            #"sanpath_iface_bound{iface="iface0",nic="br0"}"#: 1,
            #"sanpath_iface_bound{iface="iface1",nic="eth2"}"#: 0,
            #"sanpath_iface_bound{iface="iface2",nic=""}"#: 0,
            #"sanpath_session_up{target="iqn.2001-05.com.equallogic:vol1",portal="10.108.1.200:3260",iface="iface1"}"#: 0,
            #"sanpath_session_up{target="iqn.2001-05.com.equallogic:vol1",portal="10.107.1.200:3260",iface="iface0"}"#: 1,
            #"sanpath_alerts_firing{kind="nic-down",severity="warning"}"#: 1,
            #"sanpath_alerts_firing{kind="path-lost",severity="warning"}"#: 2,
            "sanpath_scan_duration_seconds": 0.042,
            #"sanpath_events_total{type="path-failed"}"#: 3,
            #"sanpath_events_total{type="add"}"#: 12,
            #"sanpath_outbox_pending{sink="webhook:http://am:9093"}"#: 2,
            #"sanpath_build_info{version="0.1.0"}"#: 1,
        ]
        #expect(values == expected)
    }

    @Test("every metric has help text and a type")
    func helpAndType() {
        let text = MetricsExposition.render(metricsInput())
        let names = Set(samples(text).keys.map { String($0.prefix { $0 != "{" }) })
        #expect(names.count == 13)
        for name in names {
            #expect(text.contains("# HELP \(name) "), "\(name)")
            #expect(text.contains("# TYPE \(name) "), "\(name)")
        }
        #expect(text.contains("# TYPE sanpath_events_total counter"))
        #expect(text.contains("# TYPE sanpath_path_failures_total counter"))
        #expect(text.contains("# TYPE sanpath_path_up gauge"))
    }

    @Test("a map that is gone leaves no series behind")
    func noStaleSeries() {
        let full = MetricsExposition.render(metricsInput())
        #expect(full.contains(#"map="mpathb""#))
        var smaller = metricsSnapshot()
        smaller.maps.removeLast()
        smaller.sessions.removeFirst()
        let after = MetricsExposition.render(metricsInput(smaller))
        #expect(!after.contains("mpathb"))
        #expect(!after.contains("10.108.1.200"))
        #expect(after.contains(#"map="mpatha""#))
    }

    @Test("before the first scan only the daemon's own series")
    func beforeFirstScan() {
        let values = samples(MetricsExposition.render(MetricsInput(snapshot: nil, version: "0.1.0")))
        #expect(values == [#"sanpath_build_info{version="0.1.0"}"#: 1])
    }
}

/// `promtool` on PATH, if installed (Debian's `prometheus` package).
let promtoolPath = onPath("promtool")
let promtoolRequired = ProcessInfo.processInfo.environment["SANPATH_REQUIRE_PROMTOOL"] == "1"

/// Runs `promtool check metrics` on a text; its exit status and what it said.
func promtoolCheck(_ text: String) throws -> (status: Int32, output: String) {
    let path = try #require(promtoolPath, "SANPATH_REQUIRE_PROMTOOL=1 but promtool is not installed (apt-get install prometheus)")
    let input = try temporaryFolder().appendingPathComponent("metrics.txt")
    try Data(text.utf8).write(to: input)
    return try runProgram(path, ["check", "metrics"], input: input)
}

@Suite("promtool check metrics", .enabled(if: promtoolPath != nil || promtoolRequired, "promtool is not installed"), .temporaryFolders)
struct PromtoolTests {
    @Test("our exposition draws no complaint")
    func clean() throws {
        let result = try promtoolCheck(MetricsExposition.render(metricsInput()))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.isEmpty, "\(result.output)")
    }

    @Test("promtool does complain about what it should (the check can fail)")
    func control() throws {
        let bad = "# HELP sanpath_path_fail_count x\n# TYPE sanpath_path_fail_count gauge\nsanpath_path_fail_count{map=\"a\"} 1\n"
        let result = try promtoolCheck(bad)
        #expect(result.status != 0)
        #expect(result.output.contains("_count"))
    }
}
