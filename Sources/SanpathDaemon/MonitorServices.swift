import Foundation
import Logging
import SanpathHealth
import SanpathSystem
import ServiceLifecycle

extension SnapshotCollector: SnapshotSource {
    /// The collectors' one-map refresh, under the engine's name for it.
    public func refresh(map name: String, in snapshot: Snapshot) async throws -> Snapshot {
        try await refresh(mapNamed: name, in: snapshot)
    }

    /// multipathd's view, when this collector has a multipathd client.
    public func multipathdView() async -> MultipathdView? {
        multipathd == nil ? nil : await askMultipathd()
    }
}

/// Asks multipathd for its path checkers' states every `interval` (`multipathd_interval`), apart
/// from the full scan: multipathd may take a while to answer at many maps, and does not answer at
/// all during a reconfigure; neither may hold up a scan or an event.
public struct MultipathdService: Service {
    let engine: MonitorEngine
    let interval: @Sendable () -> Duration

    /// Creates the service.
    public init(engine: MonitorEngine, interval: @escaping @Sendable () -> Duration) {
        self.engine = engine
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await engine.refreshMultipathd()
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval()) } } catch { return }
        }
    }
}

/// Feeds udev/kernel block events to the engine as they arrive: the fast path from a dm
/// PATH_FAILED uevent to an alert.
public struct UdevEventService: Service {
    let engine: MonitorEngine
    let source: any UdevEventSource
    let logger: Logger

    /// Creates the service.
    public init(engine: MonitorEngine, source: any UdevEventSource, logger: Logger) {
        self.engine = engine
        self.source = source
        self.logger = logger
    }

    public func run() async throws {
        // the stream ends when the task is cancelled (graceful shutdown cancels it)
        for await item in source.events().cancelOnGracefulShutdown() {
            await engine.handle(item)
        }
    }
}

/// The periodic full resync: a missed or dropped event never leaves the state wrong. (The engine
/// times the re-evaluations `for` durations and holds need itself.)
public struct ResyncService: Service {
    let engine: MonitorEngine
    let interval: @Sendable () -> Duration

    /// Creates the service; `interval` is read each round so a reload takes effect.
    public init(engine: MonitorEngine, interval: @escaping @Sendable () -> Duration) {
        self.engine = engine
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await engine.fullScan()
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval()) } } catch { return }
        }
    }
}

/// One TCP probe and where its result goes.
public struct ProbeTarget: Sendable {
    /// Host or address.
    public var host: String
    /// TCP port.
    public var port: Int
    /// NIC to leave by (SO_BINDTODEVICE), nil for the routing table's choice.
    public var device: String?
    /// Hands the connect time (nil: failed) to the engine.
    public var record: @Sendable (Double?) async -> Void

    /// Creates a target.
    public init(host: String, port: Int, device: String?, record: @escaping @Sendable (Double?) async -> Void) {
        self.host = host
        self.port = port
        self.device = device
        self.record = record
    }

    /// The SAN management hosts the engine knows, in Eucalyptus' order.
    public static func sanHosts(of engine: MonitorEngine) async -> [ProbeTarget] {
        await engine.sanHostTargets.map { target in
            ProbeTarget(host: target.host, port: target.port, device: nil) { await engine.recordSANProbe(host: target.host, latency: $0) }
        }
    }

    /// Each portal through the NIC of its path: a dead path shows up here before iSCSI's
    /// timeouts fire.
    public static func portal(_ portal: String, host: String, port: Int, nic: String, engine: MonitorEngine) -> ProbeTarget {
        ProbeTarget(host: host, port: port, device: nic) { await engine.recordPortalProbe(portal: portal, nic: nic, latency: $0) }
    }
}

/// TCP probes, all targets at once, every interval (a failed one repeated at once): the SAN
/// management hosts, or the portals through their paths' NICs.
public struct ProbeService: Service {
    let prober: any ConnectProber
    let targets: @Sendable () async -> [ProbeTarget]
    let interval: @Sendable () -> Duration
    let timeout: @Sendable () -> Duration

    /// Creates the service; `targets`, `interval` and `timeout` are read each round (reload).
    public init(
        prober: any ConnectProber, targets: @escaping @Sendable () async -> [ProbeTarget], interval: @escaping @Sendable () -> Duration,
        timeout: @escaping @Sendable () -> Duration
    ) {
        self.prober = prober
        self.targets = targets
        self.interval = interval
        self.timeout = timeout
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let limit = timeout()
            let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
            let round = await targets()
            await withTaskGroup(of: Void.self) { group in
                for target in round {
                    group.addTask {
                        let latency = await prober.connect(host: target.host, port: target.port, timeout: seconds, device: target.device)
                        await target.record(latency)
                        // two failures in a row mark a target unreachable: the second is asked at
                        // once, so a cut is known within interval + 2 × timeout
                        if latency == nil, !Task.isCancelled {
                            await target.record(await prober.connect(host: target.host, port: target.port, timeout: seconds, device: target.device))
                        }
                    }
                }
            }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval()) } } catch { return }
        }
    }
}

/// A probe loop on a thread of its own (`SynProbeLoop`: the portals' half-open probes;
/// `ConnectProbeLoop`: the SAN management hosts' connects): the engine hears only what the loop
/// reports (failures, a first answer, for SAN hosts a connect time that doubled or halved), and
/// nothing while every target answers as before.
public struct ProbeLoopService: Service {
    let loop: any ProbeThreadLoop
    let targets: [ProbeTarget]
    let interval: @Sendable () -> Duration
    let timeout: @Sendable () -> Duration
    let logger: Logger

    /// Creates the service; `targets` are the loop's in its order, `interval` and `timeout` are
    /// read each round (reload).
    public init(
        loop: any ProbeThreadLoop, targets: [ProbeTarget], interval: @escaping @Sendable () -> Duration,
        timeout: @escaping @Sendable () -> Duration, logger: Logger
    ) {
        self.loop = loop
        self.targets = targets
        self.interval = interval
        self.timeout = timeout
        self.logger = logger
    }

    public func run() async throws {
        let (reports, continuation) = AsyncStream.makeStream(of: [ProbeLoopReport].self)
        let thread = Thread { [loop, interval, timeout] in
            loop.run(interval: { interval().seconds }, timeout: { timeout().seconds }, report: { continuation.yield($0) })
            continuation.finish()
        }
        thread.start()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                for await round in reports {
                    for report in round {
                        let target = targets[report.index]
                        if let failure = report.failure {
                            logger.debug(
                                "probe failed",
                                metadata: ["host": "\(target.host)", "port": "\(target.port)", "nic": "\(target.device ?? "-")", "reason": "\(failure)"])
                        }
                        await target.record(report.latency)
                    }
                }
            } onGracefulShutdown: {
                loop.stop()
            }
        } onCancel: {
            loop.stop()
        }
    }
}

/// Checks now and then whether the managed files still match the profile (config drift).
public struct DriftService: Service {
    let engine: MonitorEngine
    let interval: Duration
    let check: @Sendable () async -> [String]?

    /// Creates the service; `check` returns the files that would change, or nil when it cannot tell.
    public init(engine: MonitorEngine, interval: Duration, check: @escaping @Sendable () async -> [String]?) {
        self.engine = engine
        self.interval = interval
        self.check = check
    }

    public func run() async throws {
        await engine.waitForFirstScan()
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await engine.recordDrift(await check())
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { return }
        }
    }
}
