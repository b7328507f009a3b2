import Foundation
import SanpathDaemon
import Testing

/// The fleet's Prometheus files: etc/prometheus/sanpath-rules.yml and its unit tests, and
/// etc/grafana/sanpath-dashboard.json.
enum FleetFiles {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let rules = repository.appendingPathComponent("etc/prometheus/sanpath-rules.yml")
    static let rulesTests = repository.appendingPathComponent("etc/prometheus/sanpath-rules.test.yml")
    static let dashboard = repository.appendingPathComponent("etc/grafana/sanpath-dashboard.json")

    /// Metric names a real /metrics page exports, with every label name they carry.
    static let exported: [String: Set<String>] = {
        var out: [String: Set<String>] = [:]
        for key in samples(MetricsExposition.render(metricsInput())).keys {
            let name = String(key.prefix { $0 != "{" })
            let labels = key.matches(of: /([a-z_]+)="/).map { String($0.output.1) }
            out[name, default: []].formUnion(labels)
        }
        return out
    }()

    /// The `expr:` lines of the rules file (every expression there is one line).
    static func ruleExpressions() throws -> [String] {
        try String(contentsOf: rules, encoding: .utf8).split(separator: "\n")
            .compactMap { line in line.firstMatch(of: /^\s+expr: (.+)$/).map { String($0.output.1) } }
    }

    /// Names the rules file records (`record: name`).
    static func recordedNames() throws -> Set<String> {
        Set(
            try String(contentsOf: rules, encoding: .utf8).split(separator: "\n")
                .compactMap { line in line.firstMatch(of: /^\s+- record: (\S+)$/).map { String($0.output.1) } })
    }

    /// The metric names a PromQL expression reads: sanpath's own, recorded ones (`level:name:op`),
    /// and Prometheus' `up`. Label values in quotes are not names.
    static func metricNames(in expr: String) -> Set<String> {
        let unquoted = expr.replacing(/"[^"]*"/, with: "\"\"")
        return Set(
            unquoted.matches(of: /[A-Za-z_:][A-Za-z0-9_:]*/).map { String($0.output) }
                .filter { $0.hasPrefix("sanpath_") || $0.contains(":sanpath_") || $0 == "up" })
    }

    /// Label names an expression groups or matches by (`by (…)`, `on (…)`, `{name=…}`).
    static func labelNames(in expr: String) -> Set<String> {
        var out = Set<String>()
        for match in expr.matches(of: /\b(?:by|on|without|ignoring)\s*\(([^)]*)\)/) {
            out.formUnion(match.output.1.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        let unquoted = expr.replacing(/"[^"]*"/, with: "\"\"")
        for match in unquoted.matches(of: /([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*""/) { out.insert(String(match.output.1)) }
        return out
    }

    /// Labels every sanpath series may carry: the daemon's, and Prometheus' target labels.
    static var knownLabels: Set<String> { exported.values.reduce(into: ["instance", "job"]) { $0.formUnion($1) } }
}

@Suite("fleet rules: every name they read is one /metrics exports")
struct FleetRuleNameTests {
    @Test func ruleExpressionsReadExportedMetrics() throws {
        let expressions = try FleetFiles.ruleExpressions()
        #expect(expressions.count >= 19)
        let recorded = try FleetFiles.recordedNames()
        for expr in expressions {
            let names = FleetFiles.metricNames(in: expr)
            #expect(!names.isEmpty, "\(expr)")
            for name in names {
                #expect(FleetFiles.exported[name] != nil || recorded.contains(name) || name == "up", "\(name) in \(expr) is not exported")
            }
            #expect(FleetFiles.labelNames(in: expr).subtracting(FleetFiles.knownLabels).isEmpty, "\(expr)")
        }
    }

    @Test func theNameCheckCanFail() {
        #expect(FleetFiles.exported["sanpath_path_up"] != nil)
        #expect(FleetFiles.exported["sanpath_nic_up"] == nil)
        #expect(FleetFiles.metricNames(in: #"sum by (nic) (sanpath_nic_up{nic!="sanpath_x"}) / instance:sanpath_paths:count"#)
            == ["sanpath_nic_up", "instance:sanpath_paths:count"])
        #expect(FleetFiles.labelNames(in: #"sum by (nic, speed) (x{duplex="full"})"#) == ["nic", "speed", "duplex"])
    }
}

@Suite("promtool check rules / test rules", .enabled(if: promtoolPath != nil || promtoolRequired, "promtool is not installed"), .temporaryFolders)
struct FleetRulesPromtoolTests {
    @Test func rulesAreValid() throws {
        let path = try #require(promtoolPath, "SANPATH_REQUIRE_PROMTOOL=1 but promtool is not installed (apt-get install prometheus)")
        let result = try runProgram(path, ["check", "rules", FleetFiles.rules.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("SUCCESS"), "\(result.output)")
    }

    @Test("series in, alerts out: etc/prometheus/sanpath-rules.test.yml")
    func unitTests() throws {
        let path = try #require(promtoolPath, "SANPATH_REQUIRE_PROMTOOL=1 but promtool is not installed (apt-get install prometheus)")
        let result = try runProgram(path, ["test", "rules", FleetFiles.rulesTests.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("SUCCESS"), "\(result.output)")
    }

    @Test("a wrong expectation fails (the unit tests can fail)")
    func control() throws {
        let path = try #require(promtoolPath, "SANPATH_REQUIRE_PROMTOOL=1 but promtool is not installed (apt-get install prometheus)")
        let test = try temporaryFolder().appendingPathComponent("wrong.test.yml")
        // a daemon down for 10 minutes, and a test that expects no alert about it
        try Data(
            """
            rule_files: [\(FleetFiles.rules.path)]
            evaluation_interval: 1m
            tests:
              - interval: 1m
                input_series:
                  - series: 'up{job="sanpath", instance="nc09:9478"}'
                    values: '0x10'
                alert_rule_test:
                  - eval_time: 10m
                    alertname: SanpathDaemonNotScraped
                    exp_alerts: []
            """.utf8
        ).write(to: test)
        let result = try runProgram(path, ["test", "rules", test.path])
        #expect(result.status != 0)
        #expect(result.output.contains("SanpathDaemonNotScraped"), "\(result.output)")
    }
}
