import Foundation
import Testing

/// etc/grafana/sanpath-dashboard.json against what the daemon exports and the rules record.
@Suite("grafana dashboard")
struct FleetDashboardTests {
    /// Every PromQL string of the dashboard: panel targets and template variable queries.
    static func queries() throws -> [String] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: FleetFiles.dashboard))
        var out: [String] = []
        func walk(_ value: Any, key: String?) {
            if let object = value as? [String: Any] {
                for (key, child) in object { walk(child, key: key) }
            } else if let array = value as? [Any] {
                for child in array { walk(child, key: key) }
            } else if let text = value as? String, key == "expr" || key == "query" || key == "definition" {
                out.append(text)
            }
        }
        walk(json, key: nil)
        return out
    }

    @Test("every metric its queries read is one /metrics exports (or the rules record)")
    func queriesReadExportedMetrics() throws {
        let recorded = try FleetFiles.recordedNames()
        let queries = try Self.queries().filter { $0 != "prometheus" }  // the datasource variable's plugin type
        #expect(queries.count >= 25)
        var read = Set<String>()
        for query in queries {
            let names = FleetFiles.metricNames(in: query)
            #expect(!names.isEmpty, "\(query) reads no metric")
            read.formUnion(names)
            for name in names {
                #expect(FleetFiles.exported[name] != nil || recorded.contains(name) || name == "up", "\(name) in \(query) is not exported")
            }
            #expect(FleetFiles.labelNames(in: query).subtracting(FleetFiles.knownLabels).isEmpty, "\(query)")
        }
        // the dashboard shows everything the daemon exports, except its version
        #expect(Set(FleetFiles.exported.keys).subtracting(read) == ["sanpath_build_info"])
    }

    @Test("panels: a fleet overview and a per-host row, each with a title, a description and a place")
    func layout() throws {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: FleetFiles.dashboard)) as? [String: Any])
        #expect(json["uid"] as? String == "sanpath-fleet")
        let panels = try #require(json["panels"] as? [[String: Any]])
        let rows = panels.filter { $0["type"] as? String == "row" }.compactMap { $0["title"] as? String }
        #expect(rows == ["Fleet", "Host $instance"])
        var ids = Set<Int>()
        for panel in panels {
            let id = try #require(panel["id"] as? Int)
            #expect(ids.insert(id).inserted, "panel id \(id) twice")
            #expect((panel["title"] as? String)?.isEmpty == false)
            let grid = try #require(panel["gridPos"] as? [String: Int])
            #expect((grid["x"] ?? 0) + (grid["w"] ?? 0) <= 24, "\(panel["title"] ?? "")")
            if panel["type"] as? String != "row" {
                #expect((panel["description"] as? String)?.isEmpty == false, "\(panel["title"] ?? "")")
                #expect(!((panel["targets"] as? [Any]) ?? []).isEmpty, "\(panel["title"] ?? "")")
            }
        }
        let titles = panels.compactMap { $0["title"] as? String }
        for wanted in ["Hosts × maps × paths", "Paths up by NIC", "Paths up by portal", "Scan duration", "Alerts firing and alert deliveries waiting"] {
            #expect(titles.contains(wanted))
        }
    }
}
