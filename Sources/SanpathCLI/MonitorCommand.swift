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
            iSCSI sessions, iface bindings, NICs and the SAN management hosts; resyncs everything every
            10 s so a lost event never leaves the state wrong. Problems are grouped by root cause: a dead
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
        let profiles = try? common.profiles()
        let profilePort = profiles?.metadata(for: resolvedSite.vendor).managementPort ?? 443

        // state and delivery
        let database = try StateDatabase(path: settings.stateDatabase)
        let sinkSet = SinkSet(config: settings, generatorURL: "http://\(settings.listen)/status")
        let delivery = AlertDelivery(database: database, sinks: sinkSet.sinks, logger: logger)
        let restored = try await AlertStateStore(database: database).restoredFiring(monotonicNow: MonitorEngine.monotonicNow())

        // collection and the engine
        var collector = SnapshotCollector(
            deviceMapper: LibDevmapper(logger: logger), sysfs: SysfsReader(diskIdentities: DiskIdentityCache()), multipathd: MultipathdSocket(),
            logger: logger)
        collector.multipathdInCollection = false  // MultipathdService asks it on its own schedule
        let sanPort = settings.sanHosts.port
        let engine = MonitorEngine(
            site: resolvedSite, policy: settings.alerts, source: collector, dispatcher: delivery,
            sanHostPort: { _ in sanPort ?? profilePort }, restored: restored, logger: logger)

        let prober = TCPProber(logger: logger)
        let udev = NetlinkUdevSource(source: settings.udevSource == .kernel ? .kernel : .udev, logger: logger)
        let notifier = SystemdNotifier()
        let startedAt = Date()
        let health = MonitorHealth(startedAt: startedAt, resyncInterval: settings.resyncInterval)

        let endpoints = MonitorEndpoints(
            metrics: { await Self.metrics(engine: engine, delivery: delivery, site: resolvedSite) },
            status: {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.dateEncodingStrategy = .iso8601
                if let report = await engine.report() { return try encoder.encode(report) }
                // before a first successful scan: say why there is nothing to show
                return try encoder.encode(["error": await engine.stats.lastError ?? "no scan has finished yet"])
            },
            health: {
                let stats = await engine.stats
                return health.health(lastFullScan: stats.lastFullScan, lastError: stats.lastError)
            })

        var services: [any Service] = [
            delivery,
            UdevEventService(engine: engine, source: udev, logger: logger),
            ResyncService(engine: engine, interval: { store.current.resyncInterval }),
            MultipathdService(engine: engine, interval: { store.current.resyncInterval }),
            MonitorHTTP.application(listen: settings.listen, endpoints: endpoints, logger: logger),
            SystemdNotifyService(
                notifier: notifier,
                alive: {
                    let stats = await engine.stats
                    return health.isAlive(lastFullScan: stats.lastFullScan)
                }, logger: logger),
            ReadinessService(
                engine: engine, notifier: notifier, site: resolvedSite,
                warmUp: { [listen = settings.listen] in await sinkSet.warmUp(url: "http://\(listen)/healthz") }, logger: logger),
            await ConfigReloadService.onSIGHUP(
                store: store, notifier: notifier,
                apply: { _, new in
                    // the site may have changed too (properties, eucalyptus.conf)
                    let newSite = (try? site.load(root: nil)) ?? resolvedSite
                    await engine.reload(site: newSite, policy: new.alerts)
                }, logger: logger),
        ]
        if !resolvedSite.sanHosts.isEmpty {
            services.append(
                ProbeService(
                    prober: prober, targets: { await ProbeTarget.sanHosts(of: engine) }, interval: { store.current.sanHosts.interval },
                    timeout: { store.current.sanHosts.timeout }))
        }
        if settings.portalProbes.enabled {
            let portals = resolvedSite.paths.compactMap { path -> ProbeTarget? in
                guard let iface = path.iface, let nic = resolvedSite.nic(forIface: iface) else { return nil }
                return .portal(path.portal.description, host: path.portal.host, port: path.portal.port, nic: nic, engine: engine)
            }
            if !portals.isEmpty {
                services.append(
                    ProbeService(
                        prober: prober, targets: { portals }, interval: { store.current.portalProbes.interval },
                        timeout: { store.current.portalProbes.timeout }))
            }
        }
        if let profiles {
            services.append(
                DriftService(engine: engine, interval: .seconds(300)) {
                    let planner = Planner(fileSystem: LocalFileSystem(), profiles: profiles, redactor: CommandContext.redactor)
                    guard let plan = try? planner.plan(resolvedSite) else { return nil }
                    return plan.files.filter(\.isChanged).map(\.path)
                })
        }
        services += sinkSet.resendServices(firing: { await engine.firingAlerts }, logger: logger)

        logger.info(
            "starting",
            metadata: [
                "profile": "\(resolvedSite.vendor.rawValue) \(resolvedSite.role.rawValue)", "listen": "\(settings.listen)",
                "sinks": "\(sinkSet.sinks.map(\.name).joined(separator: ","))", "restored": "\(restored.count)",
            ])
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    static func metrics(engine: MonitorEngine, delivery: AlertDelivery, site: Site) async -> MetricsInput {
        let snapshot = await engine.snapshot
        let model = await engine.model
        let stats = await engine.stats
        var expected: [String: Int] = [:]
        for map in snapshot?.maps ?? [] where model.isSiteMap(map, in: snapshot!) { expected[map.name] = model.expectedPathsPerMap }
        return MetricsInput(
            snapshot: snapshot, expectedPaths: expected,
            ifaceNICs: Dictionary(site.interfaces.map { ($0.iface, $0.nic) }, uniquingKeysWith: { a, _ in a }),
            firingAlerts: await engine.firingAlerts, scanDuration: stats.lastScanDuration, events: stats.events,
            outbox: (try? await delivery.summary()) ?? [], version: SanpathCommand.configuration.version)
    }
}

/// Says READY=1 to systemd once the first full scan is done, with a one-line status.
struct ReadinessService: Service {
    let engine: MonitorEngine
    let notifier: SystemdNotifier
    let site: Site
    /// Readies what the first alert needs (the webhooks' HTTP client) before start-up pages go.
    let warmUp: @Sendable () async -> Void
    let logger: Logger

    func run() async throws {
        await engine.waitForFirstScan()
        await warmUp()
        let maps = await engine.snapshot?.maps.count ?? 0
        let status = "watching \(maps) map(s) for the \(site.vendor.rawValue) \(site.role.rawValue) site"
        do {
            _ = try notifier.ready(status: status)
        } catch {
            logger.warning("cannot tell systemd we are ready", metadata: ["error": "\(error)"])
        }
        let released = StartupPages.release()
        logger.info("ready", metadata: ["maps": "\(maps)", "startup-pages-released": "\(released / 1_048_576) MiB"])
        // stay until shutdown so the group does not see this service end
        try? await gracefulShutdown()
    }
}
