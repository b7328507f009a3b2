#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SanpathCore
import SanpathDaemon
import SanpathHealth
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

/// A unix datagram socket bound by the test, standing in for systemd's notify socket.
final class NotifySocket: Sendable {
    /// What to put in NOTIFY_SOCKET.
    let address: String
    private let fd: Int32

    /// Binds a socket file in a fresh folder, or an abstract name (`abstract`).
    init(abstract: Bool = false) throws {
        let name = abstract ? "@sanpath-test-\(getpid())-\(UUID().uuidString.prefix(8))" : try temporaryFolder().appendingPathComponent("notify").path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        try #require(bytes.count < MemoryLayout.size(ofValue: address.sun_path), "socket path too long: \(name)")
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        try #require(bound == 0, "bind \(name): \(String(cString: strerror(errno)))")
        self.fd = fd
        self.address = name
    }

    deinit { close(fd) }

    /// The next message; waits for it (the suites' time limits bound the wait). Polls instead of
    /// blocking in recv: a blocked thread is lost to Swift's cooperative pool, which on a
    /// two-core machine has two threads.
    func receive() async throws -> String {
        while true {
            if let message = next() { return message }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    private func next() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
    }

    /// Every message already queued, without waiting.
    func drain() -> [String] {
        var out: [String] = []
        while let message = next() { out.append(message) }
        return out
    }
}

@Suite("systemd notify", .timeLimit(.minutes(1)), .temporaryFolders)
struct SystemdNotifyTests {
    @Test("READY, STATUS, RELOADING, STOPPING and WATCHDOG reach a socket file and an abstract socket", arguments: [false, true])
    func messages(abstract: Bool) async throws {
        let socket = try NotifySocket(abstract: abstract)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.address])
        #expect(notifier.isEnabled)
        #expect(try notifier.ready(status: "watching 12 maps"))
        #expect(try await socket.receive() == "READY=1\nSTATUS=watching 12 maps")
        try notifier.status("2 paths lost\non eth1")
        #expect(try await socket.receive() == "STATUS=2 paths lost on eth1")
        try notifier.reloading()
        let reloading = try await socket.receive().split(separator: "\n")
        #expect(reloading.first == "RELOADING=1")
        #expect(reloading.count == 2)
        #expect(reloading.last?.hasPrefix("MONOTONIC_USEC=") == true)
        #expect(UInt64(reloading.last?.dropFirst("MONOTONIC_USEC=".count) ?? "") != nil)
        try notifier.watchdog()
        #expect(try await socket.receive() == "WATCHDOG=1")
        try notifier.stopping()
        #expect(try await socket.receive() == "STOPPING=1")
    }

    @Test("without NOTIFY_SOCKET nothing is sent and nothing fails")
    func disabled() throws {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled)
        #expect(try notifier.ready() == false)
        #expect(SystemdNotifier(socketPath: "").isEnabled == false)
    }

    @Test("a socket that is not there, or not a socket address, is an error", arguments: ["/nonexistent/notify", "notify", "vsock:2:1"])
    func badSocket(path: String) {
        #expect(throws: SanpathError.self) { try SystemdNotifier(socketPath: path).ready() }
    }

    @Test(
        "the watchdog interval is half of WATCHDOG_USEC, and only for this process",
        arguments: [
            ([String: String](), nil as Duration?),
            (["WATCHDOG_USEC": "30000000"], .seconds(15)),
            (["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"], .seconds(15)),
            (["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4243"], nil),
            (["WATCHDOG_USEC": "0"], nil),
            (["WATCHDOG_USEC": "soon"], nil),
        ])
    func watchdogInterval(environment: [String: String], interval: Duration?) {
        #expect(SystemdNotifier.watchdogInterval(environment: environment, pid: 4242) == interval)
    }

    @Test("the notify service pings the watchdog while alive, and says STOPPING=1 on graceful shutdown")
    func watchdogService() async throws {
        let socket = try NotifySocket()
        let service = SystemdNotifyService(
            notifier: SystemdNotifier(socketPath: socket.address), watchdogInterval: .milliseconds(5), logger: quietLogger())
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                #expect(try await socket.receive() == "WATCHDOG=1")
                #expect(try await socket.receive() == "WATCHDOG=1")
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        let rest = socket.drain()
        #expect(rest.last == "STOPPING=1\nSTATUS=shutting down")
        #expect(rest.dropLast().allSatisfy { $0 == "WATCHDOG=1" })
    }

    @Test("a stuck engine gets no pings, so systemd's watchdog restarts the daemon")
    func noPingsWhenNotAlive() async throws {
        let socket = try NotifySocket()
        let asked = Mutex(0)
        let service = SystemdNotifyService(
            notifier: SystemdNotifier(socketPath: socket.address), watchdogInterval: .milliseconds(2),
            alive: {
                asked.withLock { $0 += 1 }
                return false
            }, logger: quietLogger())
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                try await eventually { asked.withLock { $0 } >= 3 }
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(socket.drain() == ["STOPPING=1\nSTATUS=shutting down"])
    }

    @Test("without a watchdog the service only waits for shutdown")
    func noWatchdog() async throws {
        let socket = try NotifySocket()
        let service = SystemdNotifyService(notifier: SystemdNotifier(socketPath: socket.address), watchdogInterval: nil, logger: quietLogger())
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(try await socket.receive() == "STOPPING=1\nSTATUS=shutting down")
    }
}

@Suite("config reload", .timeLimit(.minutes(1)), .temporaryFolders)
struct ConfigReloadTests {
    func configFile(_ text: String) throws -> String {
        let path = try temporaryFolder().appendingPathComponent("monitor.toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("reload: a changed file is taken, a bad one is refused and the old config stays")
    func store() throws {
        let path = try configFile("resync_interval = \"10s\"\n")
        let store = try MonitorConfigStore.load(path: path)
        #expect(store.current.resyncInterval == .seconds(10))
        guard case .unchanged = store.reload() else { Issue.record("expected no change"); return }

        try "resync_interval = \"30s\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        guard case .changed(let old, let new) = store.reload() else { Issue.record("expected a change"); return }
        #expect(old.resyncInterval == .seconds(10))
        #expect(new.resyncInterval == .seconds(30))

        try "resync_interval = \"30s\"\nresync_interval_typo = \"5s\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        guard case .failed(let error) = store.reload() else { Issue.record("expected a failure"); return }
        #expect(error.location?.description == "\(path):2:1")
        #expect(store.current.resyncInterval == .seconds(30))
    }

    @Test("a trigger reloads between RELOADING=1 and READY=1; a bad file says why and changes nothing")
    func service() async throws {
        let path = try configFile("resync_interval = \"10s\"\n")
        let store = try MonitorConfigStore.load(path: path)
        let socket = try NotifySocket()
        let (triggers, trigger) = AsyncStream<Void>.makeStream()
        let (applied, apply) = AsyncStream<(MonitorConfig, MonitorConfig)>.makeStream()
        let service = ConfigReloadService(
            store: store, notifier: SystemdNotifier(socketPath: socket.address), triggers: triggers,
            apply: { apply.yield(($0, $1)) }, logger: quietLogger())
        try await testGracefulShutdown { shutdown in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }

                try "resync_interval = 10s\n".write(toFile: path, atomically: true, encoding: .utf8)
                trigger.yield()
                #expect(try await socket.receive().hasPrefix("RELOADING=1\n"))
                let failed = try await socket.receive()
                #expect(failed.hasPrefix("READY=1\nSTATUS=reload failed, running the previous configuration: \(path):1:19: error:"))
                #expect(store.current.resyncInterval == .seconds(10))

                try "resync_interval = \"2s\"\n[http]\nlisten = \"127.0.0.1:9999\"\n".write(toFile: path, atomically: true, encoding: .utf8)
                trigger.yield()
                var changes = applied.makeAsyncIterator()
                let change = try #require(await changes.next())
                #expect(change.0.resyncInterval == .seconds(10))
                #expect(change.1.resyncInterval == .seconds(2))
                #expect(change.1.restartRequired(since: change.0) == ["http.listen"])
                #expect(try await socket.receive().hasPrefix("RELOADING=1\n"))
                #expect(try await socket.receive() == "READY=1\nSTATUS=configuration reloaded")

                shutdown.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test("SIGHUP reloads")
    func sighup() async throws {
        let path = try configFile("resync_interval = \"10s\"\n")
        let store = try MonitorConfigStore.load(path: path)
        let (applied, apply) = AsyncStream<MonitorConfig>.makeStream()
        let service = await ConfigReloadService.onSIGHUP(
            store: store, notifier: SystemdNotifier(socketPath: nil), apply: { apply.yield($1) }, logger: quietLogger())
        try "resync_interval = \"20s\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            // the signal is trapped from the moment onSIGHUP returned
            kill(getpid(), SIGHUP)
            var changes = applied.makeAsyncIterator()
            #expect(await changes.next()?.resyncInterval == .seconds(20))
            group.cancelAll()
        }
    }
}

@Suite("the daemon's services shut down gracefully", .timeLimit(.minutes(1)), .temporaryFolders)
struct GracefulShutdownTests {
    @Test("delivery, HTTP, systemd notify, reload and Alertmanager re-send stop together; STOPPING=1 is said")
    func serviceGroup() async throws {
        let socket = try NotifySocket()
        let receiver = Receiver()
        try await receiver.application().test(.live) { client in
            let port = try #require(client.port)
            let notifier = SystemdNotifier(socketPath: socket.address)
            var config = MonitorConfig()
            config.sinks.log = false
            config.sinks.stdout = false
            config.sinks.webhooks = [MonitorConfig.Webhook(name: "am", url: "http://127.0.0.1:\(port)", format: .alertmanager)]
            config.sinks.webhooks[0].resend = .milliseconds(5)
            let sinks = SinkSet(config: config, instance: "nc1")
            let delivery = AlertDelivery(database: try StateDatabase.inMemory(), sinks: sinks.sinks, logger: quietLogger())
            let http = MonitorHTTP.server(
                listen: ListenAddress(host: "127.0.0.1", port: 0),
                endpoints: MonitorEndpoints(
                    metrics: { MetricsInput(snapshot: nil, version: "0.1.0") }, status: { Data("{}".utf8) }, health: { .healthy }),
                logger: quietLogger())
            let (triggers, _) = AsyncStream<Void>.makeStream()
            let reload = ConfigReloadService(
                store: MonitorConfigStore(path: nil, config: config), notifier: notifier, triggers: triggers, apply: { _, _ in },
                logger: quietLogger())
            let resend = sinks.resendServices(firing: { [AlertSamples.nicDown()] }, logger: quietLogger())
            let group = ServiceGroup(
                services: [delivery, http, SystemdNotifyService(notifier: notifier, watchdogInterval: nil, logger: quietLogger()), reload]
                    + resend,
                logger: quietLogger())
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                await delivery.dispatch([AlertSamples.nicDown()])
                // the transition through the outbox, and at least one re-send
                try await eventually { try await delivery.outbox.pending().isEmpty && receiver.received.count >= 2 }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(socket.drain() == ["STOPPING=1\nSTATUS=shutting down"])
            #expect(try await delivery.outbox.pending().isEmpty)
        }
    }

    @Test("the Alertmanager re-send posts the firing alerts until shutdown")
    func resend() async throws {
        let receiver = Receiver()
        try await receiver.application().test(.live) { client in
            let port = try #require(client.port)
            let sink = WebhookSink(url: "http://127.0.0.1:\(port)", format: .alertmanager, instance: "nc1")
            let service = AlertmanagerResendService(
                sink: sink, interval: .milliseconds(5), firing: { [AlertSamples.nicDown(), AlertSamples.numbered(1)] }, logger: quietLogger())
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await service.run() }
                    try await eventually { receiver.received.count >= 2 }
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                }
            }
            let alerts = try #require(try JSONSerialization.jsonObject(with: receiver.received[0].body) as? [[String: Any]])
            #expect(alerts.count == 2)
            #expect(alerts.allSatisfy { $0["endsAt"] == nil })
        }
    }
}
