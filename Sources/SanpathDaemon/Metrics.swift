import Foundation
import Prometheus
import SanpathHealth

/// What /metrics is made of, gathered at scrape time from the engine and the outbox.
public struct MetricsInput: Sendable {
    /// The latest snapshot (nil before the first scan: only the daemon's own series then).
    public var snapshot: Snapshot?
    /// How many paths each map should have (the site's paths), by map name.
    public var expectedPaths: [String: Int]
    /// The site's iface → NIC map, for `sanpath_iface_bound`.
    public var ifaceNICs: [String: String]
    /// The alerts firing now.
    public var firingAlerts: [AlertEvent]
    /// How long the last full scan took, in seconds.
    public var scanDuration: Double?
    /// Events seen since start, by type (`path-failed`, `add`, `overflow`, …).
    public var events: [String: Int]
    /// The outbox, per sink.
    public var outbox: [OutboxSinkSummary]
    /// sanpath's version.
    public var version: String

    /// Creates an input.
    public init(
        snapshot: Snapshot?, expectedPaths: [String: Int] = [:], ifaceNICs: [String: String] = [:], firingAlerts: [AlertEvent] = [],
        scanDuration: Double? = nil, events: [String: Int] = [:], outbox: [OutboxSinkSummary] = [], version: String
    ) {
        self.snapshot = snapshot
        self.expectedPaths = expectedPaths
        self.ifaceNICs = ifaceNICs
        self.firingAlerts = firingAlerts
        self.scanDuration = scanDuration
        self.events = events
        self.outbox = outbox
        self.version = version
    }
}

/// The Prometheus text exposition of a `MetricsInput`. Each scrape builds a fresh registry from
/// the state of that moment, so a map, path or session that is gone leaves no stale series.
///
/// The kernel's per-path failure count is exported as the counter
/// `sanpath_path_failures_total` (it only grows, and restarts from zero when the map's table is
/// reloaded, which Prometheus handles as a counter reset); a gauge named `…_fail_count` is
/// rejected by `promtool check metrics` (`_count` is reserved for histograms and summaries).
public enum MetricsExposition {
    /// The exposition text.
    public static func render(_ input: MetricsInput) -> String {
        let registry = PrometheusCollectorRegistry()
        if let snapshot = input.snapshot { addSnapshot(snapshot, input, to: registry) }

        var firing: [String: (kind: String, severity: String, count: Int)] = [:]
        for alert in input.firingAlerts {
            let key = "\(alert.kind)\u{0}\(alert.severity.rawValue)"
            firing[key, default: (alert.kind, alert.severity.rawValue, 0)].count += 1
        }
        for group in firing.values {
            registry.makeGauge(
                name: "sanpath_alerts_firing", labels: [("kind", group.kind), ("severity", group.severity)],
                help: "Alerts firing now, by kind and severity."
            ).set(Double(group.count))
        }
        if let duration = input.scanDuration {
            registry.makeGauge(name: "sanpath_scan_duration_seconds", help: "How long the last full scan of the host took.").set(duration)
        }
        for (type, count) in input.events {
            registry.makeCounter(name: "sanpath_events_total", labels: [("type", type)], help: "Events seen since the daemon started, by type.")
                .increment(by: Int64(count))
        }
        for sink in input.outbox {
            registry.makeGauge(
                name: "sanpath_outbox_pending", labels: [("sink", sink.sink)], help: "Alert events waiting to be delivered to a sink."
            ).set(Double(sink.pending))
        }
        registry.makeGauge(name: "sanpath_build_info", labels: [("version", input.version)], help: "sanpath's version; always 1.").set(1.0)
        return registry.emitToString()
    }

    private static func addSnapshot(_ snapshot: Snapshot, _ input: MetricsInput, to registry: PrometheusCollectorRegistry) {
        for map in snapshot.maps {
            for path in map.paths {
                let device = path.device ?? path.majorMinor
                let session = path.device.flatMap { snapshot.session(of: $0) }
                registry.makeGauge(
                    name: "sanpath_path_up",
                    labels: [
                        ("map", map.name), ("path", device), ("iface", session?.iface ?? ""), ("nic", session?.netdev ?? ""),
                        ("portal", session?.portal ?? ""),
                    ],
                    help: "1 when the kernel has the path active (A), 0 when it failed it (F)."
                ).set(path.kernelState == .active ? 1.0 : 0.0)
                registry.makeCounter(
                    name: "sanpath_path_failures_total", labels: [("map", map.name), ("path", device)],
                    help: "The kernel's failure count of the path since the map's table was loaded."
                ).increment(by: Int64(path.failCount))
            }
            registry.makeGauge(
                name: "sanpath_map_valid_paths", labels: [("map", map.name), ("wwid", map.wwid)],
                help: "Paths of the map the kernel has not failed."
            ).set(Double(map.validPaths))
            if let expected = input.expectedPaths[map.name] {
                registry.makeGauge(
                    name: "sanpath_map_expected_paths", labels: [("map", map.name), ("wwid", map.wwid)],
                    help: "Paths the map should have: the site's paths."
                ).set(Double(expected))
            }
        }
        for host in snapshot.sanHosts {
            // a host not probed yet has no series: unknown is not down
            if let reachable = host.reachable {
                registry.makeGauge(
                    name: "sanpath_san_host_up", labels: [("host", host.host)], help: "1 when the SAN management host answered the last probe."
                ).set(reachable ? 1.0 : 0.0)
            }
            if let latency = host.latency {
                registry.makeGauge(
                    name: "sanpath_san_host_latency_seconds", labels: [("host", host.host)],
                    help: "TCP connect time of the SAN management host, as last reported by its probes (again when it doubles or halves)."
                ).set(latency)
            }
        }
        for iface in snapshot.ifaces {
            let nic = iface.netIfaceName ?? iface.hwAddress ?? ""
            let wanted = input.ifaceNICs[iface.name]
            let bound = !nic.isEmpty && (wanted == nil || wanted == nic)
            registry.makeGauge(
                name: "sanpath_iface_bound", labels: [("iface", iface.name), ("nic", nic)],
                help: "1 when the open-iscsi iface file binds a NIC (the site's NIC for it, when the site names one)."
            ).set(bound ? 1.0 : 0.0)
        }
        for session in snapshot.sessions {
            registry.makeGauge(
                name: "sanpath_session_up",
                labels: [("target", session.target), ("portal", session.portal ?? ""), ("iface", session.iface ?? "")],
                help: "1 when the iSCSI session is logged in."
            ).set(session.isLoggedIn ? 1.0 : 0.0)
        }
    }
}
