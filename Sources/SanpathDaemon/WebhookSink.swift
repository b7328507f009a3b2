import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SanpathCore
import SanpathHealth

/// Alerts POSTed over HTTP. Two bodies:
/// - `generic`: the event as `AlertEventJSON`, to the URL as given;
/// - `alertmanager`: Alertmanager's v2 API, `POST <base>/api/v2/alerts` with a JSON array of
///   `{labels, annotations, startsAt, endsAt, generatorURL}`. Alertmanager resolves an alert it
///   has not heard about for its `resolve_timeout`, so firing alerts must be re-sent
///   (`resend(_:)`, driven by `AlertmanagerResendService`).
///
/// A response other than 2xx, a timeout or a connection failure throws, so the outbox retries.
public struct WebhookSink: AlertSink {
    /// The body format.
    public enum Format: String, Sendable, Hashable, CaseIterable {
        /// The event JSON as stdout prints it.
        case generic
        /// Alertmanager's `/api/v2/alerts`.
        case alertmanager
    }

    /// `webhook:<name>` when given a name (the config's table name), else `webhook:<url>` less
    /// its user and password. Names reach logs, /status and /metrics: a URL that carries a
    /// token in its path or query should be given a name.
    public let name: String
    /// The format.
    public let format: Format
    /// Where requests go: the URL as given (generic) or `<base>/api/v2/alerts` (alertmanager).
    public let endpoint: String

    private let timeout: Duration
    private let instance: String
    private let generatorURL: String?
    private let client: HTTPClient

    /// A sink posting to `url` in `format`, each request bounded by `timeout`. `instance` (the
    /// host name by default) is an Alertmanager label, so alerts of many hosts stay apart;
    /// `generatorURL` links back to this daemon's status.
    public init(
        url: String, name: String? = nil, format: Format = .generic, timeout: Duration = .seconds(10),
        instance: String = ProcessInfo.processInfo.hostName, generatorURL: String? = nil, client: HTTPClient = .shared
    ) {
        self.name = "webhook:\(name ?? WebhookSink.withoutCredentials(url))"
        self.format = format
        self.endpoint = format == .alertmanager ? WebhookSink.alertmanagerEndpoint(url) : url
        self.timeout = timeout
        self.instance = instance
        self.generatorURL = generatorURL
        self.client = client
    }

    /// Posts one event.
    public func deliver(_ event: AlertEvent) async throws {
        switch format {
        case .generic: try await post(AlertEventJSON.data(event))
        case .alertmanager: try await post(WebhookSink.alertmanagerBody([event], instance: instance, generatorURL: generatorURL))
        }
    }

    /// Re-posts the alerts that are firing now, all in one request (alertmanager format only;
    /// a generic webhook hears only transitions).
    public func resend(_ firing: [AlertEvent]) async throws {
        guard format == .alertmanager, !firing.isEmpty else { return }
        try await post(WebhookSink.alertmanagerBody(firing, instance: instance, generatorURL: generatorURL))
    }

    /// `<base>/api/v2/alerts`, unless the URL already ends so.
    public static func alertmanagerEndpoint(_ url: String) -> String {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        return base.hasSuffix("/api/v2/alerts") ? base : base + "/api/v2/alerts"
    }

    /// The Alertmanager v2 body for some events: labels `alertname` (the kind), `severity`,
    /// `alertkey`, `instance`, `maps` (comma list, when any) and `map` (when exactly one);
    /// annotations `summary` and `paths` (one per line); `endsAt` only on resolved events.
    public static func alertmanagerBody(_ events: [AlertEvent], instance: String, generatorURL: String?) -> Data {
        let alerts = events.map { event in
            var labels = [
                "alertname": event.kind, "severity": event.severity.rawValue, "alertkey": event.alertKey, "instance": instance,
            ]
            if !event.maps.isEmpty { labels["maps"] = event.maps.joined(separator: ",") }
            if event.maps.count == 1 { labels["map"] = event.maps[0] }
            var annotations = ["summary": event.summary]
            if !event.paths.isEmpty { annotations["paths"] = event.paths.map(\.description).joined(separator: "\n") }
            return AlertmanagerAlert(
                labels: labels, annotations: annotations, startsAt: AlertEventJSON.timestamp(event.startedAt),
                endsAt: event.state == .resolved ? AlertEventJSON.timestamp(event.time) : nil, generatorURL: generatorURL)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Dictionaries of strings and optional strings always encode.
        return try! encoder.encode(alerts)
    }

    private struct AlertmanagerAlert: Encodable {
        var labels: [String: String]
        var annotations: [String: String]
        var startsAt: String
        var endsAt: String?
        var generatorURL: String?
    }

    private func post(_ body: Data) async throws {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "sanpath-monitor")
        request.body = .bytes(body)
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.nanoseconds)))
        } catch {
            throw SanpathError(.delivery, "POST to \(WebhookSink.server(of: endpoint)) failed: \(error)", underlying: error)
        }
        // Read (a bounded part of) the body so the connection can be reused, and for the message.
        var text = ""
        for try await chunk in response.body {
            if text.utf8.count < 512 { text += String(buffer: chunk) }
        }
        guard (200..<300).contains(response.status.code) else {
            let excerpt = text.prefix(200).replacingOccurrences(of: "\n", with: " ")
            throw SanpathError(
                .delivery,
                "POST to \(WebhookSink.server(of: endpoint)) answered \(response.status.code) \(response.status.reasonPhrase)"
                    + (excerpt.isEmpty ? "" : ": \(excerpt)"))
        }
    }

    /// `scheme://host:port` of a URL, for messages: no credentials, no path, no query.
    static func server(of url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else {
            return "the webhook"
        }
        let shown = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(shown)" + (components.port.map { ":\($0)" } ?? "")
    }

    /// The URL without `user:password@`, for names.
    static func withoutCredentials(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.user != nil || components.password != nil else { return url }
        components.user = nil
        components.password = nil
        return components.string ?? url
    }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }

    /// The duration in seconds as a floating-point number.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
