import AsyncHTTPClient
import Foundation
import Logging
import SanpathHealth
import ServiceLifecycle

/// The sinks a configuration names, built once at start: log, stdout, webhooks, programs, in
/// that order; plus what keeps Alertmanager's view of firing alerts alive.
public struct SinkSet: Sendable {
    /// Every sink, for `AlertDelivery`.
    public var sinks: [any AlertSink]
    /// The Alertmanager webhooks and how often each wants firing alerts again.
    public var alertmanagers: [(sink: WebhookSink, interval: Duration)]

    /// The sinks of `config`. `instance` labels this host's alerts in Alertmanager;
    /// `generatorURL` links an alert back to the daemon (its /status).
    public init(
        config: MonitorConfig, instance: String = ProcessInfo.processInfo.hostName, generatorURL: String? = nil,
        stdout: any LineWriter = FileDescriptorLineWriter.standardOutput, stderr: any LineWriter = FileDescriptorLineWriter.standardError,
        logStyle: LogStyle = .detect(), client: HTTPClient = .shared
    ) {
        var sinks: [any AlertSink] = []
        var alertmanagers: [(WebhookSink, Duration)] = []
        if config.sinks.log { sinks.append(LogSink(writer: stderr, style: logStyle)) }
        if config.sinks.stdout { sinks.append(StdoutEventSink(writer: stdout)) }
        for webhook in config.sinks.webhooks {
            let sink = WebhookSink(
                url: webhook.url, name: webhook.name, format: webhook.format, timeout: webhook.timeout, instance: instance, generatorURL: generatorURL,
                client: client)
            sinks.append(sink)
            if webhook.format == .alertmanager { alertmanagers.append((sink, webhook.resend)) }
        }
        for exec in config.sinks.execs {
            sinks.append(ExecSink(argv: exec.argv, name: exec.name, timeout: exec.timeout))
        }
        self.sinks = sinks
        self.alertmanagers = alertmanagers
    }

    /// Readies the HTTP client before the first alert needs it: its event loop, resolver threads
    /// and connection machinery start on first use, which took a second under emulation in the lab
    /// (the first alert's webhook came 1.1 s after the kernel's event, the others in 75 ms). One
    /// GET of `url` (the daemon's own /healthz) with the client the webhooks use; nothing is sent
    /// to a webhook. Does nothing without webhooks.
    public func warmUp(url: String, client: HTTPClient = .shared) async {
        guard sinks.contains(where: { $0 is WebhookSink }) else { return }
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        if let response = try? await client.execute(request, timeout: .seconds(5)) {
            _ = try? await response.body.collect(upTo: 4096)
        }
        // and the encoder the webhook body goes through
        let now = Date()
        _ = AlertEventJSON.data(
            AlertEvent(
                id: "warm-up", alertKey: "warm-up", time: now, state: .firing, kind: "path-lost", severity: .critical, summary: "",
                maps: ["m"], paths: [PathRef(device: "sdx", map: "m", iface: "i", nic: "n", portal: "p", target: "t")], startedAt: now))
    }

    /// One re-send service per Alertmanager webhook; `firing` gives the alerts firing now.
    public func resendServices(firing: @escaping @Sendable () async -> [AlertEvent], logger: Logger) -> [AlertmanagerResendService] {
        alertmanagers.map { AlertmanagerResendService(sink: $0.sink, interval: $0.interval, firing: firing, logger: logger) }
    }
}

/// Re-posts the firing alerts to an Alertmanager every `interval`. Alertmanager resolves an
/// alert nobody re-sent within its `resolve_timeout`; Prometheus re-sends every minute, and so
/// does this. A failed re-send is logged and tried at the next interval (the transitions
/// themselves go through the outbox).
public struct AlertmanagerResendService: Service {
    private let sink: WebhookSink
    private let interval: Duration
    private let firing: @Sendable () async -> [AlertEvent]
    private let logger: Logger

    /// Re-sends `firing()` through `sink` every `interval`.
    public init(sink: WebhookSink, interval: Duration, firing: @escaping @Sendable () async -> [AlertEvent], logger: Logger) {
        self.sink = sink
        self.interval = interval
        self.firing = firing
        self.logger = logger
    }

    /// Runs until graceful shutdown.
    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            let alerts = await firing()
            do {
                try await sink.resend(alerts)
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "re-sending firing alerts failed", metadata: ["sink": "\(sink.name)", "alerts": "\(alerts.count)", "error": "\(error)"])
            }
        }
    }
}
