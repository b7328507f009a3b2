import Foundation
import Logging
import SanpathCore
import SanpathHealth
import SanpathSite
import SanpathSystem
import ServiceLifecycle

/// What the daemon reads and talks to: the host's collectors in `sanpath monitor`, fakes in tests.
public struct MonitorBoundaries: Sendable {
    /// Snapshots of maps, disks, sessions, iface files and NICs.
    public var snapshots: any SnapshotSource
    /// Kernel or udev events.
    public var udev: any UdevEventSource
    /// TCP connects to SAN hosts (and portals, unless `portalProber` is given).
    public var prober: any ConnectProber
    /// Probes of the portals through their NICs (half-open SYN probes in `sanpath monitor`).
    public var portalProber: any ConnectProber
    /// systemd's notify socket (none outside systemd).
    public var notifier: SystemdNotifier
    /// The managed files that differ from the profile (nil: it could not tell), asked every
    /// 300 s; nil: no drift check (no profiles).
    public var drift: (@Sendable () async -> [String]?)?

    /// Creates the boundaries.
    public init(
        snapshots: any SnapshotSource, udev: any UdevEventSource, prober: any ConnectProber, portalProber: (any ConnectProber)? = nil,
        notifier: SystemdNotifier, drift: (@Sendable () async -> [String]?)? = nil
    ) {
        self.snapshots = snapshots
        self.udev = udev
        self.prober = prober
        self.portalProber = portalProber ?? prober
        self.notifier = notifier
        self.drift = drift
    }
}

/// The daemon assembled: the engine, the outbox, the sinks, the HTTP endpoints, readiness and
/// the watchdog, each a `Service` of one group; SIGTERM or SIGINT stops it gracefully.
/// `sanpath monitor` parses its arguments and hands them here.
public struct MonitorDaemon: Sendable {
    /// The settings it runs with (file and flags).
    public let settings: MonitorConfig
    /// The engine (tests and /status read it).
    public let engine: MonitorEngine
    /// The outbox and delivery.
    public let delivery: AlertDelivery
    /// Every service, in start order.
    public let services: [any Service]
    let logger: Logger

    /// Builds every service. `reloadSite` reads the site again on SIGHUP; `managementPort` is the
    /// profile's SAN host port (used unless the settings name one); `version` goes to /metrics.
    public static func assemble(
        settings: MonitorConfig, store: MonitorConfigStore, site: Site, reloadSite: @escaping @Sendable () throws -> Site,
        managementPort: Int, boundaries: MonitorBoundaries, version: String, logger: Logger
    ) async throws -> MonitorDaemon {
        let database = try StateDatabase(path: settings.stateDatabase)
        let sinkSet = SinkSet(config: settings, generatorURL: "http://\(settings.listen)/status")
        let delivery = AlertDelivery(database: database, sinks: sinkSet.sinks, logger: logger)
        let restored = try await AlertStateStore(database: database).restoredFiring(monotonicNow: MonitorEngine.monotonicNow())
        let sanPort = settings.sanHosts.port
        let engine = MonitorEngine(
            site: site, policy: settings.alerts, source: boundaries.snapshots, dispatcher: delivery,
            sanHostPort: { _ in sanPort ?? managementPort }, restored: restored, logger: logger)
        let health = MonitorHealth(startedAt: Date(), resyncInterval: settings.resyncInterval)
        let notifier = boundaries.notifier
        // READY=1 waits for /healthz to answer, so that systemd's "started" means reachable
        let listening = AsyncStream.makeStream(of: Never.self)

        let endpoints = MonitorEndpoints(
            metrics: { await MonitorDaemon.metrics(engine: engine, delivery: delivery, site: site, version: version, logger: logger) },
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
            UdevEventService(engine: engine, source: boundaries.udev, logger: logger),
            ResyncService(engine: engine, interval: { store.current.resyncInterval }),
            MultipathdService(engine: engine, interval: { store.current.multipathdInterval }),
            MonitorHTTP.server(
                listen: settings.listen, endpoints: endpoints, logger: logger, listening: { _ in listening.continuation.finish() }),
            SystemdNotifyService(
                notifier: notifier,
                alive: {
                    let stats = await engine.stats
                    return health.isAlive(lastFullScan: stats.lastFullScan)
                }, logger: logger),
            ReadinessService(
                engine: engine, notifier: notifier, site: site, listening: listening.stream,
                warmUp: { [listen = settings.listen] in await sinkSet.warmUp(url: "http://\(listen)/healthz") }, logger: logger),
            await ConfigReloadService.onSIGHUP(
                store: store, notifier: notifier,
                apply: { _, new in
                    // the site may have changed too (properties, eucalyptus.conf)
                    let newSite: Site
                    do {
                        newSite = try reloadSite()
                    } catch {
                        logger.error("cannot read the site again; keeping the one loaded before", metadata: ["error": "\(error)"])
                        newSite = site
                    }
                    await engine.reload(site: newSite, policy: new.alerts)
                }, logger: logger),
        ]
        if !site.sanHosts.isEmpty {
            // connects on a thread of their own (the engine hears only of changes), unless the
            // boundaries are a test's fakes
            let targets = await ProbeTarget.sanHosts(of: engine)
            if boundaries.prober is TCPProber,
                let loop = ConnectProbeLoop(targets: targets.map { ConnectProbeLoop.Target(host: $0.host, port: $0.port) })
            {
                services.append(
                    ProbeLoopService(
                        loop: loop, targets: targets, interval: { store.current.sanHosts.interval },
                        timeout: { store.current.sanHosts.timeout }, logger: logger))
            } else {
                services.append(
                    ProbeService(
                        prober: boundaries.prober, targets: { await ProbeTarget.sanHosts(of: engine) },
                        interval: { store.current.sanHosts.interval }, timeout: { store.current.sanHosts.timeout }))
            }
        }
        if settings.portalProbes.enabled {
            let portals = site.paths.compactMap { path -> ProbeTarget? in
                guard let iface = path.iface, let nic = site.nic(forIface: iface) else { return nil }
                return .portal(path.portal.description, host: path.portal.host, port: path.portal.port, nic: nic, engine: engine)
            }
            // half-open probes of IPv4 portals run on a thread of their own; else probes by task
            let loop =
                (boundaries.portalProber as? TCPProber)?.halfOpen == true
                ? SynProbeLoop(endpoints: portals.map { SynProbeLoop.Endpoint(host: $0.host, port: $0.port, device: $0.device) }) : nil
            if let loop {
                services.append(
                    ProbeLoopService(
                        loop: loop, targets: portals, interval: { store.current.portalProbes.interval },
                        timeout: { store.current.portalProbes.timeout }, logger: logger))
            } else if !portals.isEmpty {
                services.append(
                    ProbeService(
                        prober: boundaries.portalProber, targets: { portals }, interval: { store.current.portalProbes.interval },
                        timeout: { store.current.portalProbes.timeout }))
            }
        }
        if let drift = boundaries.drift {
            services.append(DriftService(engine: engine, interval: .seconds(300), check: drift))
        }
        services += sinkSet.resendServices(firing: { await engine.firingAlerts }, logger: logger)

        logger.info(
            "starting",
            metadata: [
                "profile": "\(site.vendor.rawValue) \(site.role.rawValue)", "listen": "\(settings.listen)",
                "sinks": "\(sinkSet.sinks.map(\.name).joined(separator: ","))", "restored": "\(restored.count)",
            ])
        return MonitorDaemon(settings: settings, engine: engine, delivery: delivery, services: services, logger: logger)
    }

    /// The group of every service; SIGTERM and SIGINT stop it gracefully (unless `signals` is
    /// false: a test triggers the shutdown itself).
    public func serviceGroup(signals: Bool = true) -> ServiceGroup {
        var configuration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }, logger: logger)
        if signals { configuration.gracefulShutdownSignals = [.sigterm, .sigint] }
        return ServiceGroup(configuration: configuration)
    }

    /// Runs until SIGTERM or SIGINT.
    public func run() async throws {
        try await serviceGroup().run()
    }

    /// The input of /metrics.
    static func metrics(engine: MonitorEngine, delivery: AlertDelivery, site: Site, version: String, logger: Logger) async -> MetricsInput {
        let snapshot = await engine.snapshot
        let model = await engine.model
        let stats = await engine.stats
        var expected: [String: Int] = [:]
        for map in snapshot?.maps ?? [] where model.isSiteMap(map, in: snapshot!) { expected[map.name] = model.expectedPathsPerMap }
        let outbox: [OutboxSinkSummary]
        do {
            outbox = try await delivery.summary()
        } catch {
            // the scrape still says what the engine knows; the outbox rows are left out
            logger.error("cannot read the outbox for /metrics", metadata: ["error": "\(error.message)"])
            outbox = []
        }
        return MetricsInput(
            snapshot: snapshot, expectedPaths: expected,
            ifaceNICs: Dictionary(site.interfaces.map { ($0.iface, $0.nic) }, uniquingKeysWith: { a, _ in a }),
            firingAlerts: await engine.firingAlerts, scanDuration: stats.lastScanDuration, events: stats.events,
            outbox: outbox, version: version)
    }
}

/// Says READY=1 to systemd once the first full scan is done, with a one-line status.
struct ReadinessService: Service {
    let engine: MonitorEngine
    let notifier: SystemdNotifier
    let site: Site
    /// Ends once the HTTP server accepts connections.
    let listening: AsyncStream<Never>
    /// Readies what the first alert needs (the webhooks' HTTP client) before start-up pages go.
    let warmUp: @Sendable () async -> Void
    let logger: Logger

    func run() async throws {
        await engine.waitForFirstScan()
        for await _ in listening.cancelOnGracefulShutdown() {}
        guard !Task.isShuttingDownGracefully else { return }
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
        // stay until shutdown so the group does not see this service end (its only error is cancellation)
        do { try await gracefulShutdown() } catch is CancellationError {}
    }
}
