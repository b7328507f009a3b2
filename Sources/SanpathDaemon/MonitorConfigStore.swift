import Logging
import SanpathCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The running configuration and its file. `reload()` reads the file again; a file that does
/// not parse leaves the running configuration as it was.
public final class MonitorConfigStore: Sendable {
    /// What a reload did.
    public enum ReloadResult: Sendable {
        /// The file says what the daemon runs with already.
        case unchanged
        /// The configuration changed.
        case changed(old: MonitorConfig, new: MonitorConfig)
        /// The file is unreadable or wrong; the old configuration stays.
        case failed(SanpathError)
    }

    /// The file (nil: defaults only, nothing to reload).
    public let path: String?
    private let state: Mutex<MonitorConfig>

    /// A store holding `config`, read from `path`.
    public init(path: String?, config: MonitorConfig) {
        self.path = path
        self.state = Mutex(config)
    }

    /// Reads `path` (nil: the defaults).
    public static func load(path: String?) throws(SanpathError) -> MonitorConfigStore {
        MonitorConfigStore(path: path, config: try path.map { path throws(SanpathError) in try MonitorConfig.load(path: path) } ?? MonitorConfig())
    }

    /// The configuration in force.
    public var current: MonitorConfig { state.withLock { $0 } }

    /// Reads the file again and, when it parses, makes it current.
    public func reload() -> ReloadResult {
        guard let path else { return .unchanged }
        let fresh: MonitorConfig
        do {
            fresh = try MonitorConfig.load(path: path)
        } catch {
            return .failed(error)
        }
        return state.withLock { config in
            guard fresh != config else { return .unchanged }
            let old = config
            config = fresh
            return .changed(old: old, new: fresh)
        }
    }
}

/// Reloads the configuration on each trigger (SIGHUP in the daemon): `RELOADING=1`, read the
/// file, hand a changed configuration to `apply`, `READY=1`. A bad file keeps the old
/// configuration and is logged with its file:line:col; settings a running daemon cannot change
/// (listen address, database, sinks) are logged as needing a restart.
public struct ConfigReloadService<Triggers: AsyncSequence & Sendable>: Service where Triggers.Element: Sendable {
    private let store: MonitorConfigStore
    private let notifier: SystemdNotifier
    private let triggers: Triggers
    private let apply: @Sendable (_ old: MonitorConfig, _ new: MonitorConfig) async -> Void
    private let logger: Logger

    /// Reloads `store` on each element of `triggers`.
    public init(
        store: MonitorConfigStore, notifier: SystemdNotifier, triggers: Triggers,
        apply: @escaping @Sendable (_ old: MonitorConfig, _ new: MonitorConfig) async -> Void, logger: Logger
    ) {
        self.store = store
        self.notifier = notifier
        self.triggers = triggers
        self.apply = apply
        self.logger = logger
    }

    /// Reloads until graceful shutdown.
    public func run() async throws {
        for try await _ in triggers.cancelOnGracefulShutdown() {
            await reloadOnce()
        }
    }

    /// One reload, as a trigger does it.
    public func reloadOnce() async {
        var logger = self.logger
        logger[metadataKey: "file"] = "\(store.path ?? "(none)")"
        notify { () throws(SanpathError) in try notifier.reloading(status: "reloading the configuration") }
        let status: String
        switch store.reload() {
        case .unchanged:
            logger.info("configuration reloaded: no change")
            status = "configuration unchanged"
        case .failed(let error):
            logger.error("configuration reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
            status = "reload failed, running the previous configuration: \(error)"
        case .changed(let old, let new):
            let pending = new.restartRequired(since: old)
            if !pending.isEmpty {
                logger.warning(
                    "configuration reloaded; these settings take effect at the next restart",
                    metadata: ["settings": .array(pending.map { .string($0) })])
            } else {
                logger.info("configuration reloaded")
            }
            await apply(old, new)
            status = "configuration reloaded"
        }
        notify { () throws(SanpathError) in try notifier.ready(status: status) }
    }

    private func notify(_ send: () throws(SanpathError) -> Bool) {
        do {
            _ = try send()
        } catch {
            logger.warning("cannot notify systemd", metadata: ["error": "\(error)"])
        }
    }
}

extension ConfigReloadService where Triggers == UnixSignalsSequence {
    /// Reloads on SIGHUP (`systemctl reload`). The signal is caught from the moment this returns.
    public static func onSIGHUP(
        store: MonitorConfigStore, notifier: SystemdNotifier,
        apply: @escaping @Sendable (_ old: MonitorConfig, _ new: MonitorConfig) async -> Void, logger: Logger
    ) async -> ConfigReloadService<UnixSignalsSequence> {
        ConfigReloadService(
            store: store, notifier: notifier, triggers: await UnixSignalsSequence(trapping: .sighup), apply: apply, logger: logger)
    }
}
