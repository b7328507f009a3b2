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

/// The periodic full resync (a missed or dropped event never leaves the state wrong), and the
/// re-evaluations `for` durations and holds need between resyncs.
public struct ResyncService: Service {
    let engine: MonitorEngine
    let interval: @Sendable () -> Duration

    /// Creates the service; `interval` is read each round so a reload takes effect.
    public init(engine: MonitorEngine, interval: @escaping @Sendable () -> Duration) {
        self.engine = engine
        self.interval = interval
    }

    public func run() async throws {
        await engine.fullScan()
        var nextScan = ContinuousClock.now + interval()
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            // wake for the next scan, or earlier when an alert's `for` or hold runs out
            var wake = nextScan
            if let deadline = await engine.nextDeadline {
                let inSeconds = max(0, deadline - MonitorEngine.monotonicNow())
                wake = min(wake, ContinuousClock.now + .milliseconds(Int(inSeconds * 1000) + 10))
            }
            let until = wake
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(until: until, clock: .continuous) }
            } catch {
                return
            }
            if ContinuousClock.now >= nextScan {
                await engine.fullScan()
                nextScan = ContinuousClock.now + interval()
            } else {
                await engine.tick()
            }
        }
    }
}

/// TCP probes of the SAN management hosts, each on its own, every interval.
public struct SANHostProbeService: Service {
    let engine: MonitorEngine
    let prober: any ConnectProber
    let interval: @Sendable () -> Duration
    let timeout: @Sendable () -> Duration

    /// Creates the service.
    public init(
        engine: MonitorEngine, prober: any ConnectProber, interval: @escaping @Sendable () -> Duration,
        timeout: @escaping @Sendable () -> Duration
    ) {
        self.engine = engine
        self.prober = prober
        self.interval = interval
        self.timeout = timeout
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let targets = await engine.sanHostTargets
            let seconds = Double(timeout().components.seconds) + Double(timeout().components.attoseconds) / 1e18
            await withTaskGroup(of: Void.self) { group in
                for target in targets {
                    group.addTask {
                        let latency = await prober.connect(host: target.host, port: target.port, timeout: seconds, device: nil)
                        await engine.recordSANProbe(host: target.host, latency: latency)
                    }
                }
            }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval()) } } catch { return }
        }
    }
}

/// TCP probes of each portal through its path's own NIC (SO_BINDTODEVICE): a dead path shows
/// up here before iSCSI's timeouts fire.
public struct PortalProbeService: Service {
    /// A portal and the NIC its path leaves by.
    public struct Target: Sendable, Hashable {
        /// `address:port` as the site writes it.
        public var portal: String
        /// Host part.
        public var host: String
        /// Port.
        public var port: Int
        /// NIC.
        public var nic: String

        /// Creates a target.
        public init(portal: String, host: String, port: Int, nic: String) {
            self.portal = portal
            self.host = host
            self.port = port
            self.nic = nic
        }
    }

    let engine: MonitorEngine
    let prober: any ConnectProber
    let targets: [Target]
    let interval: @Sendable () -> Duration
    let timeout: @Sendable () -> Duration

    /// Creates the service.
    public init(
        engine: MonitorEngine, prober: any ConnectProber, targets: [Target], interval: @escaping @Sendable () -> Duration,
        timeout: @escaping @Sendable () -> Duration
    ) {
        self.engine = engine
        self.prober = prober
        self.targets = targets
        self.interval = interval
        self.timeout = timeout
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let seconds = Double(timeout().components.seconds) + Double(timeout().components.attoseconds) / 1e18
            await withTaskGroup(of: Void.self) { group in
                for target in targets {
                    group.addTask {
                        let latency = await prober.connect(host: target.host, port: target.port, timeout: seconds, device: target.nic)
                        await engine.recordPortalProbe(portal: target.portal, nic: target.nic, latency: latency)
                    }
                }
            }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval()) } } catch { return }
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
