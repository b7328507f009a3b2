import ArgumentParser
import Foundation
import Logging
import SanpathConfig
import SanpathCore
import SanpathDaemon
import SanpathHealth
import SanpathHost
import SanpathProfiles
import SanpathProvision
import SanpathSite
import SanpathSystem
import ServiceLifecycle

/// `sanpath monitor`: the path-health daemon.
struct MonitorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Run the path-health daemon in the foreground (systemd runs it; see etc/systemd/sanpath-monitor.service).",
        discussion: HelpText.prose("""
            Watches dm-multipath path states (kernel uevents: a failed path is seen in milliseconds),
            iSCSI sessions, iface bindings, NICs and the SAN management hosts; asks multipathd for its
            checkers' states every 60 s (multipathd_interval) and resyncs everything every 5 min
            (resync_interval), so a lost event never leaves the state wrong. Problems are grouped by root cause: a dead
            NIC, portal or session is one alert naming every path and map it took down.

            Every alert transition is one JSON line on stdout:
              {"time", "state": "firing"|"resolved", "kind", "summary", "maps", "paths", ...}
            and goes to the configured sinks (log, webhooks in generic or Alertmanager v2 form, programs)
            through a SQLite outbox: delivered at least once, across a sink outage and a restart.

            HTTP on 127.0.0.1:9478 by default: /metrics (Prometheus), /status (JSON), /healthz.
            SIGTERM stops gracefully; SIGHUP reloads the config file and the site. Under systemd
            (Type=notify) READY=1 is sent after the first full scan, WATCHDOG=1 while scans succeed.

            Settings: --config FILE (default /etc/sanpath/monitor.toml when it exists; every key is shown
            in etc/sanpath/monitor.toml). Flags add to it.
            """))

    @OptionGroup var site: SiteOptions
    @OptionGroup var common: CommonOptions

    @Option(help: ArgumentHelp("Daemon settings file (TOML).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Serve /metrics, /status and /healthz on ADDR:PORT.", valueName: "addr:port"))
    var listen: String?

    @Option(help: ArgumentHelp("POST every alert event as JSON to URL (repeatable).", valueName: "url"))
    var webhook: [String] = []

    @Option(help: ArgumentHelp("Send alerts to an Alertmanager (base URL; /api/v2/alerts is added).", valueName: "url"))
    var alertmanager: [String] = []

    @Option(
        help: ArgumentHelp(
            "Run PROGRAM (argv, no shell) for every alert event, with SANPATH_ALERT_* in its environment.",
            valueName: "program"))
    var exec: [String] = []

    @Option(name: .customLong("state-db"), help: ArgumentHelp("Outbox and alert state database.", valueName: "file"))
    var stateDatabase: String?

    func validate() throws {
        if let listen, ListenAddress(parsing: listen) == nil { throw ValidationError("--listen must be ADDR:PORT, e.g. 127.0.0.1:9478") }
        for program in exec where !program.hasPrefix("/") {
            throw ValidationError("--exec needs an absolute path (no shell, no PATH lookup): \(program)")
        }
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)  // a closed stdout must not kill the daemon
        LoggingBootstrap.daemon(verbose: common.verbose)
        let logger = Logger(label: "sanpath.monitor")

        // settings: file, then flags
        let configPath = config ?? (FileManager.default.fileExists(atPath: "/etc/sanpath/monitor.toml") ? "/etc/sanpath/monitor.toml" : nil)
        let store = try MonitorConfigStore.load(path: configPath)
        var settings = store.current
        if let listen, let address = ListenAddress(parsing: listen) { settings.listen = address }
        if let stateDatabase { settings.stateDatabase = stateDatabase }
        for (index, url) in webhook.enumerated() {
            settings.sinks.webhooks.append(MonitorConfig.Webhook(name: "webhook-flag-\(index + 1)", url: url))
        }
        for (index, url) in alertmanager.enumerated() {
            settings.sinks.webhooks.append(MonitorConfig.Webhook(name: "alertmanager-flag-\(index + 1)", url: url, format: .alertmanager))
        }
        for (index, program) in exec.enumerated() {
            settings.sinks.execs.append(MonitorConfig.Exec(name: "exec-flag-\(index + 1)", argv: [program]))
        }
        let resolvedSite = try site.load(root: nil)
        var managementPort = 443
        var drift: (@Sendable () async -> [String]?)?
        do {
            let profiles = try common.profiles()
            managementPort = profiles.metadata(for: resolvedSite.vendor).managementPort ?? 443
            drift = {
                let planner = Planner(fileSystem: LocalFileSystem(), profiles: profiles, redactor: CommandContext.redactor)
                do {
                    return try planner.plan(resolvedSite).files.filter(\.isChanged).map(\.path)
                } catch {
                    logger.warning("drift check: cannot plan", metadata: ["error": "\(error)"])
                    return nil
                }
            }
        } catch {
            logger.warning(
                "no profiles: no drift check, SAN hosts probed on port 443 unless monitor.toml names one",
                metadata: ["error": "\(error)"])
        }

        var collector = SnapshotCollector(
            deviceMapper: LibDevmapper(logger: logger), sysfs: SysfsReader(diskIdentities: DiskIdentityCache()), multipathd: MultipathdSocket(),
            logger: logger)
        collector.multipathdInCollection = false  // MultipathdService asks it on its own schedule
        let boundaries = MonitorBoundaries(
            snapshots: collector, udev: NetlinkUdevSource(source: settings.udevSource == .kernel ? .kernel : .udev, logger: logger),
            prober: TCPProber(logger: logger), portalProber: TCPProber(logger: logger, halfOpen: settings.portalProbes.method == .syn),
            notifier: SystemdNotifier(), drift: drift)
        let site = self.site
        let daemon = try await MonitorDaemon.assemble(
            settings: settings, store: store, site: resolvedSite, reloadSite: { try site.load(root: nil) },
            managementPort: managementPort, boundaries: boundaries, version: SanpathCommand.configuration.version, logger: logger)
        try await daemon.run()
    }
}
