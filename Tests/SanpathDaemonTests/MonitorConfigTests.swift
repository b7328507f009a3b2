import Foundation
import SanpathCore
import SanpathDaemon
import SanpathHealth
import Testing

/// The repository's example config file.
let exampleConfigPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("etc/sanpath/monitor.toml").path

@Suite("monitor config")
struct MonitorConfigTests {
    @Test("the example file documents every key at its default")
    func exampleIsTheDefaults() throws {
        let parsed = try MonitorConfig.load(path: exampleConfigPath)
        let defaults = MonitorConfig()
        #expect(parsed.resyncInterval == defaults.resyncInterval)
        #expect(parsed.udevSource == defaults.udevSource)
        #expect(parsed.stateDatabase == defaults.stateDatabase)
        #expect(parsed.retention == defaults.retention)
        #expect(parsed.sanHosts == defaults.sanHosts)
        #expect(parsed.portalProbes == defaults.portalProbes)
        #expect(parsed.nagios == defaults.nagios)
        #expect(parsed.listen == defaults.listen)
        #expect(parsed.sinks == defaults.sinks)
        #expect(parsed.alerts.defaultFor == defaults.alerts.defaultFor)
        #expect(parsed.alerts.resolveHold == defaults.alerts.resolveHold)
        #expect(parsed.alerts.flapWindow == defaults.alerts.flapWindow)
        #expect(parsed.alerts.flapTransitions == defaults.alerts.flapTransitions)
        #expect(parsed.alerts.flapHold == defaults.alerts.flapHold)
        // every kind is listed, each with the engine's default
        for kind in Finding.Kind.allCases.map(\.rawValue) {
            #expect(parsed.alerts.forDuration[kind] != nil, "\(kind) missing from [alerts.for]")
            #expect(
                parsed.alerts.forDuration[kind] == defaults.alerts.forDuration[kind] ?? defaults.alerts.defaultFor, "\(kind)")
        }
        #expect(parsed.alerts.forDuration["path-lost"] == 0)
        #expect(parsed.restartRequired(since: defaults).isEmpty)
    }

    @Test("the example's commented sinks parse when uncommented")
    func exampleSinks() throws {
        let text = try String(contentsOfFile: exampleConfigPath, encoding: .utf8)
            .replacingOccurrences(of: "\n# [sinks.", with: "\n[sinks.")
            .replacingOccurrences(of: "\n# url", with: "\nurl").replacingOccurrences(of: "\n# format", with: "\nformat")
            .replacingOccurrences(of: "\n# timeout", with: "\ntimeout").replacingOccurrences(of: "\n# resend", with: "\nresend")
            .replacingOccurrences(of: "\n# argv", with: "\nargv").replacingOccurrences(of: "\n# port", with: "\nport")
            .replacingOccurrences(of: "\n# ok_paths", with: "\nok_paths")
        let config = try MonitorConfig.parse(text, source: "monitor.toml")
        #expect(config.sinks.webhooks.map(\.name) == ["alertmanager"])
        #expect(config.sinks.webhooks.first?.format == .alertmanager)
        #expect(config.sinks.webhooks.first?.resend == .seconds(60))
        #expect(config.sinks.execs.first?.argv == ["/usr/local/bin/page-storage-oncall", "--team", "storage"])
        #expect(config.sanHosts.port == 443)
        #expect(config.nagios.okPaths == 2)
        #expect(config.restartRequired(since: MonitorConfig()) == ["sinks"])
    }

    @Test("a file that changes things")
    func custom() throws {
        let config = try MonitorConfig.parse(
            """
            resync_interval = "500ms"
            multipathd_interval = "15s"
            udev_source = "udev"
            [state]
            database = "/srv/sanpath/state.sqlite"
            retention = "2d"
            [san_hosts]
            interval = "30s"
            timeout = "5s"
            port = 8443
            [portal_probes]
            enabled = false
            [alerts]
            resolve_hold = "15s"
            [alerts.for]
            path-lost = "5s"
            [alerts.flap]
            max_transitions = 6
            [nagios]
            min_paths = 2
            ok_paths = 4
            [http]
            listen = "[::1]:9100"
            [sinks]
            stdout = false
            [sinks.webhook.ops]
            url = "https://hooks.example.net/sanpath"
            [sinks.webhook.am]
            url = "http://am:9093"
            format = "alertmanager"
            resend = "30s"
            [sinks.exec.page]
            argv = ["/usr/local/bin/page", "--quiet"]
            timeout = "5s"
            """, source: "monitor.toml")
        #expect(config.resyncInterval == .milliseconds(500))
        #expect(config.multipathdInterval == .seconds(15))
        #expect(config.udevSource == .udev)
        #expect(config.stateDatabase == "/srv/sanpath/state.sqlite")
        #expect(config.retention == .seconds(2 * 86_400))
        #expect(config.sanHosts.interval == .seconds(30))
        #expect(config.sanHosts.timeout == .seconds(5))
        #expect(config.sanHosts.port == 8443)
        #expect(config.portalProbes.enabled == false)
        #expect(config.alerts.resolveHold == 15)
        #expect(config.alerts.forDuration["path-lost"] == 5)
        // kinds not named keep their defaults
        #expect(config.alerts.forDuration["san-host-unreachable"] == AlertPolicy().forDuration["san-host-unreachable"])
        #expect(config.alerts.flapTransitions == 6)
        #expect(config.nagios == NagiosReport.Thresholds(minPaths: 2, okPaths: 4))
        #expect(config.listen == ListenAddress(host: "::1", port: 9100))
        #expect(config.sinks.log && !config.sinks.stdout)
        #expect(config.sinks.webhooks.map(\.name) == ["ops", "am"])
        #expect(config.sinks.webhooks.map(\.format) == [.generic, .alertmanager])
        #expect(config.sinks.webhooks[1].resend == .seconds(30))
        #expect(config.sinks.execs.first?.timeout == .seconds(5))
        #expect(
            config.restartRequired(since: MonitorConfig()) == ["http.listen", "state.database", "state.retention", "udev_source", "sinks"])

        let sinks = SinkSet(config: config, instance: "nc1")
        // sinks are named after their tables: a token in a URL or an argument stays out of logs and metrics
        #expect(sinks.sinks.map(\.name) == ["log", "webhook:ops", "webhook:am", "exec:page"])
        #expect(sinks.alertmanagers.map(\.interval) == [.seconds(30)])
    }

    @Test("portal probes: half-open SYN every second by default; a connect every 10 s unless told otherwise")
    func portalProbeMethods() throws {
        let defaults = MonitorConfig().portalProbes
        #expect(defaults.method == .syn)
        #expect(defaults.interval == .seconds(1) && defaults.timeout == .milliseconds(500))
        // a cut path is known within interval + 2 x timeout (the failed probe is repeated at once)
        #expect(defaults.interval + defaults.timeout * 2 <= .seconds(2))
        let connect = try MonitorConfig.parse("[portal_probes]\nmethod = \"connect\"", source: "monitor.toml").portalProbes
        #expect(connect.method == .connect && connect.interval == .seconds(10) && connect.timeout == .seconds(2))
        let told = try MonitorConfig.parse("[portal_probes]\nmethod = \"connect\"\ninterval = \"30s\"", source: "monitor.toml").portalProbes
        #expect(told.interval == .seconds(30) && told.timeout == .seconds(2))
    }

    @Test(
        "every bad value is an error at its line and column, with its text",
        arguments: [
            ("resync_intervall = \"10s\"", "1:1", "unknown key in the monitor config", "resync_intervall"),
            ("resync_interval = \"10\"", "1:20", "expected a duration", "10"),
            ("resync_interval = \"1.5s\"", "1:20", "expected a duration", "1.5s"),
            ("resync_interval = \"10 s\"", "1:20", "expected a duration", "10 s"),
            ("resync_interval = 10", "1:19", "must be a duration string", "resync_interval"),
            ("resync_interval = \"0s\"", "1:20", "must be longer than 0", "0s"),
            ("resync_interval = 10s", "1:19", "a string value must be quoted", "10s"),
            ("udev_source = \"netlink\"", "1:16", "must be kernel or udev", "netlink"),
            ("alerts = 3", "1:10", "must be a [alerts] table", "alerts"),
            ("[state]\ndatabase = \"monitor.sqlite\"", "2:13", "must be an absolute path", "monitor.sqlite"),
            ("[state]\nretention = \"forever\"", "2:14", "expected a duration", "forever"),
            ("[san_hosts]\nport = 70000", "2:8", "must be between 1 and 65535", "70000"),
            ("[san_hosts]\nport = \"443\"", "2:8", "must be an integer", "port"),
            ("[san_hosts]\ninterval = \"1s\"\ntimeout = \"2s\"", "3:12", "must not be longer than the interval (1s)", "2s"),
            ("[portal_probes]\nenabled = \"yes\"", "2:11", "must be true or false", "enabled"),
            ("[portal_probes]\nintervall = \"5s\"", "2:1", "unknown key in [portal_probes]", "intervall"),
            ("[portal_probes]\nmethod = \"icmp\"", "2:11", "must be syn or connect", "icmp"),
            ("[alerts.for]\npath-lsot = \"0s\"", "2:1", "unknown alert kind in [alerts.for]", "path-lsot"),
            ("[alerts.for]\nnic-down = \"soon\"", "2:13", "expected a duration", "soon"),
            ("[alerts.flap]\nmax_transitions = 1", "2:19", "must be between 2 and 1000", "1"),
            ("[nagios]\nmin_paths = 2\nok_paths = 1", "3:12", "must not be below min_paths (2)", "1"),
            ("[http]\nlisten = \"localhost\"", "2:11", "expected ADDR:PORT", "localhost"),
            ("[http]\nlisten = \"127.0.0.1:99999\"", "2:11", "expected ADDR:PORT", "127.0.0.1:99999"),
            ("[sinks]\nlog = 1", "2:7", "must be true or false", "log"),
            ("[sinks.webhook.am]\nurl = \"ftp://alerts\"", "2:8", "expected an http:// or https:// URL", "ftp://alerts"),
            ("[sinks.webhook.am]\nurl = \"http://am:9093\"\nformat = \"prometheus\"", "3:11", "must be generic or alertmanager", "prometheus"),
            ("[sinks.webhook.am]\nurl = \"http://am:9093\"\nretries = 3", "3:1", "unknown key in [sinks.webhook.am]", "retries"),
            ("[sinks.webhook.am]\nformat = \"generic\"", "1:1", "needs a url", "am"),
            ("[sinks.webhook.a]\nurl = \"http://am:9093\"\n[sinks.webhook.b]\nurl = \"http://am:9093\"", "4:8", "the same URL as an earlier webhook", "http://am:9093"),
            ("[sinks.webhook.a]\nurl = \"http://am:9093/\"\nformat = \"alertmanager\"\n[sinks.webhook.b]\nurl = \"http://am:9093/api/v2/alerts\"\nformat = \"alertmanager\"", "5:8", "the same URL as an earlier webhook", "http://am:9093/api/v2/alerts"),
            ("[sinks.exec.a]\nargv = [\"/bin/page\"]\n[sinks.exec.b]\nargv = [\"/bin/page\"]", "4:8", "the same command as an earlier exec sink", "/bin/page"),
            ("[sinks.webhook]\nam = \"http://am:9093\"", "2:6", "must be a [sinks.webhook.am] table", "am"),
            ("[sinks.exec.page]\nargv = [\"page\", \"--now\"]", "2:10", "the program must be an absolute path", "page"),
            ("[sinks.exec.page]\nargv = []", "2:8", "must name a program", "[]"),
            ("[sinks.exec.page]\nargv = \"/usr/local/bin/page\"", "2:8", "must be an array of strings", "argv"),
            ("[sinks.exec.page]\nargv = [\"/bin/page\", 3]", "2:22", "array items must be strings", "argv"),
            ("[sinks.exec.page]\ntimeout = \"5s\"", "1:1", "needs argv", "page"),
        ])
    func errors(text: String, position: String, message: String, offending: String) throws {
        let error = try #require(throws: SanpathError.self) { try MonitorConfig.parse(text, source: "/etc/sanpath/monitor.toml") }
        #expect(error.code == .invalidConfig)
        #expect(error.location?.description == "/etc/sanpath/monitor.toml:\(position)")
        #expect(error.message.contains(message), "\(error.message)")
        let diagnostic = try #require(error.diagnostics.first)
        #expect(diagnostic.text == offending)
        // what an admin reads: file:line:col: error: key: message: 'text'
        #expect(error.description.hasPrefix("/etc/sanpath/monitor.toml:\(position): error: "))
        #expect(error.description.contains("'\(offending)'"))
    }

    @Test(
        "durations",
        arguments: [
            ("500ms", Duration.milliseconds(500)), ("10s", .seconds(10)), ("5m", .seconds(300)), ("2h", .seconds(7_200)),
            ("7d", .seconds(604_800)), ("0s", .zero),
        ])
    func durations(text: String, duration: Duration) {
        #expect(Duration(configText: text) == duration)
        #expect(Duration(configText: duration.configText) == duration)
    }

    @Test("not durations", arguments: ["", "s", "10", "10S", "-1s", "1.5s", " 10s", "10s ", "10 s", "10sec", "1m30s", "ms"])
    func notDurations(text: String) {
        #expect(Duration(configText: text) == nil)
    }

    @Test("a missing file is an I/O error naming it")
    func missingFile() throws {
        let error = try #require(throws: SanpathError.self) { try MonitorConfig.load(path: "/nonexistent/monitor.toml") }
        #expect(error.code == .io)
        #expect(error.message.contains("/nonexistent/monitor.toml"))
    }
}
