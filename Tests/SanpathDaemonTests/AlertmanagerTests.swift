#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Hummingbird
import HummingbirdTesting
import SanpathDaemon
import SanpathHealth
import Testing

/// Debian's prometheus-alertmanager (the daemon and amtool), if installed.
let alertmanagerPath = onPath("prometheus-alertmanager") ?? onPath("alertmanager")
let amtoolPath = onPath("amtool")
let alertmanagerRequired = ProcessInfo.processInfo.environment["SANPATH_REQUIRE_ALERTMANAGER"] == "1"

/// Runs blocking work (a child process to its end) on a Dispatch thread: blocked, a thread of
/// Swift's cooperative pool (two on a 2-core machine) would stall every other async test.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's choice).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A real Alertmanager on 127.0.0.1: its own port, storage and config in a temporary folder,
/// no cluster; it notifies `webhook` (firing and resolved) one second after an alert changes.
final class RunningAlertmanager {
    let url: String
    private let process = Process()
    private let log: URL

    init(webhook: String) throws {
        let binary = try #require(alertmanagerPath, "SANPATH_REQUIRE_ALERTMANAGER=1 but alertmanager is not installed (apt-get install prometheus-alertmanager)")
        let folder = try temporaryFolder()
        let config = folder.appendingPathComponent("alertmanager.yml")
        try Data(
            """
            route:
              receiver: fleet
              group_by: [alertname, instance]
              group_wait: 1s
              group_interval: 1s
              repeat_interval: 1h
            receivers:
              - name: fleet
                webhook_configs:
                  - url: \(webhook)
                    send_resolved: true
            """.utf8
        ).write(to: config)
        let port = try freeLoopbackPort()
        url = "http://127.0.0.1:\(port)"
        log = folder.appendingPathComponent("alertmanager.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--config.file=\(config.path)", "--storage.path=\(folder.appendingPathComponent("data").path)",
            "--web.listen-address=127.0.0.1:\(port)", "--cluster.listen-address=", "--log.level=warn",
        ]
        let output = try FileHandle(forWritingTo: log)
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    /// What it logged, for failure messages.
    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// amtool against it: exit status and output.
    func amtool(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let amtool = try #require(amtoolPath, "SANPATH_REQUIRE_ALERTMANAGER=1 but amtool is not installed (apt-get install prometheus-alertmanager)")
        let argv = ["--alertmanager.url=\(url)"] + arguments
        return try await offThePool { try runProgram(amtool, argv) }
    }

    /// The alerts amtool lists for `matchers`, as JSON objects.
    func query(_ matchers: [String]) async throws -> [[String: Any]] {
        let result = try await amtool(["alert", "query", "--output=json"] + matchers)
        guard result.status == 0 else { throw AlertmanagerError(text: "amtool alert query: \(result.output)") }
        return (try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]]) ?? []
    }

    /// Waits (bounded) until it answers.
    func waitUntilReady() async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while (try? await amtool(["alert", "query"]))?.status != 0 {
            guard ContinuousClock.now < deadline, process.isRunning else {
                throw AlertmanagerError(text: "alertmanager did not come up: \(logText)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// SIGTERM, then SIGKILL after 5 s.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    struct AlertmanagerError: Error, CustomStringConvertible {
        var text: String
        var description: String { text }
    }
}

/// Polls `condition` every 100 ms for at most `seconds`.
func within(seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}

@Suite(
    "the daemon's Alertmanager sink against a real Alertmanager",
    .enabled(if: (alertmanagerPath != nil && amtoolPath != nil) || alertmanagerRequired, "prometheus-alertmanager is not installed"),
    .timeLimit(.minutes(1)), .temporaryFolders)
struct AlertmanagerTests {
    @Test("an alert fires with its labels (amtool sees it, Alertmanager notifies), then resolves")
    func firingThenResolved() async throws {
        let receiver = Receiver()
        try await receiver.application().test(.live) { client in
            let hookPort = try #require(client.port)
            let alertmanager = try RunningAlertmanager(webhook: "http://127.0.0.1:\(hookPort)/hook")
            defer { alertmanager.stop() }
            try await alertmanager.waitUntilReady()

            // the sink as the daemon builds it from monitor.toml
            let config = try MonitorConfig.parse(
                """
                [sinks]
                log = false
                stdout = false
                [sinks.webhook.alertmanager]
                url = "\(alertmanager.url)"
                format = "alertmanager"
                timeout = "5s"
                """, source: "monitor.toml")
            let sinks = SinkSet(config: config, instance: "nc07.cloud", generatorURL: "http://nc07.cloud:9478/status")
            let sink = try #require(sinks.alertmanagers.first?.sink)
            #expect(sinks.sinks.count == 1)

            let started = Date()
            let paths = [
                PathRef(device: "sdb", map: "mpatha", iface: "iface1", nic: "eth1", portal: "10.108.1.200:3260", target: "iqn.2001-05.com.equallogic:vol1"),
                PathRef(device: "sdd", map: "mpathb", iface: "iface1", nic: "eth1", portal: "10.108.1.200:3260", target: "iqn.2001-05.com.equallogic:vol2"),
            ]
            func event(_ state: AlertEvent.State, at time: Date) -> AlertEvent {
                AlertEvent(
                    id: "nic-down:eth1@\(Int(started.timeIntervalSince1970))/\(state.rawValue)", alertKey: "nic-down:eth1", time: time,
                    state: state, kind: "nic-down", severity: .critical,
                    summary: (state == .resolved ? "resolved: " : "") + "NIC eth1 is down: 2 paths of mpatha, mpathb lost",
                    maps: ["mpatha", "mpathb"], paths: paths, startedAt: started)
            }

            try await sink.deliver(event(.firing, at: started))
            let alerts = try await alertmanager.query(["alertname=nic-down", "instance=nc07.cloud"])
            let alert = try #require(alerts.first, "amtool sees no alert; alertmanager said: \(alertmanager.logText)")
            #expect(alerts.count == 1)
            let labels = try #require(alert["labels"] as? [String: String])
            #expect(
                labels == [
                    "alertname": "nic-down", "severity": "critical", "alertkey": "nic-down:eth1", "instance": "nc07.cloud",
                    "maps": "mpatha,mpathb",
                ])
            let annotations = try #require(alert["annotations"] as? [String: String])
            #expect(annotations["summary"] == "NIC eth1 is down: 2 paths of mpatha, mpathb lost")
            #expect(annotations["paths"]?.split(separator: "\n").count == 2)
            #expect((alert["status"] as? [String: Any])?["state"] as? String == "active")
            #expect(alert["generatorURL"] as? String == "http://nc07.cloud:9478/status")
            // the receiver Alertmanager routes to hears it firing
            let notified = try await within(seconds: 15) { receiver.notifications().contains { $0.status == "firing" } }
            #expect(notified, "no firing notification; alertmanager said: \(alertmanager.logText)")

            // the daemon's resend of what is firing keeps it (one request, the same alert)
            try await sink.resend([event(.firing, at: started)])
            #expect(try await alertmanager.query(["alertname=nic-down"]).count == 1)

            try await sink.deliver(event(.resolved, at: Date()))
            let gone = try await within(seconds: 5) { try await alertmanager.query(["alertname=nic-down"]).isEmpty }
            #expect(gone, "amtool still lists the alert after it resolved")
            let resolved = try await within(seconds: 15) { receiver.notifications().contains { $0.status == "resolved" } }
            #expect(resolved, "no resolved notification; alertmanager said: \(alertmanager.logText)")
            let last = try #require(receiver.notifications().last { $0.status == "resolved" })
            #expect(last.labels["alertname"] == "nic-down")
            #expect(last.labels["instance"] == "nc07.cloud")
        }
    }
}

extension Receiver {
    /// Alertmanager's webhook notifications received at /hook: each alert's status and labels.
    func notifications() -> [(status: String, labels: [String: String])] {
        received.filter { $0.path == "/hook" }.flatMap { request -> [(status: String, labels: [String: String])] in
            let body = (try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any]
            let alerts = (body?["alerts"] as? [[String: Any]]) ?? []
            return alerts.map { (($0["status"] as? String) ?? "", ($0["labels"] as? [String: String]) ?? [:]) }
        }
    }
}
