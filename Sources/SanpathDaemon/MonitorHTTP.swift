import Foundation
import Hummingbird
import Logging
import NIOCore

/// What /healthz says.
public enum HealthState: Sendable, Hashable {
    /// 200 `ok`.
    case healthy
    /// 503 with the reason (no scan yet, the last scan failed, the engine is stuck).
    case unhealthy(String)
}

/// Where the HTTP endpoints get their answers, each asked at request time.
public struct MonitorEndpoints: Sendable {
    /// The input of /metrics.
    public var metrics: @Sendable () async -> MetricsInput
    /// The JSON body of /status (the engine's status report, encoded by its owner).
    public var status: @Sendable () async throws -> Data
    /// The answer of /healthz.
    public var health: @Sendable () async -> HealthState

    /// Creates the endpoints.
    public init(
        metrics: @escaping @Sendable () async -> MetricsInput, status: @escaping @Sendable () async throws -> Data,
        health: @escaping @Sendable () async -> HealthState
    ) {
        self.metrics = metrics
        self.status = status
        self.health = health
    }
}

/// The daemon's HTTP side: `GET /metrics` (Prometheus text), `GET /status` (JSON),
/// `GET /healthz` (200 `ok` or 503 and why). It listens on 127.0.0.1 unless told otherwise.
public enum MonitorHTTP {
    /// The Prometheus text format's content type.
    public static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The routes.
    public static func router(_ endpoints: MonitorEndpoints) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            let text = MetricsExposition.render(await endpoints.metrics())
            return Response(status: .ok, headers: [.contentType: metricsContentType], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/status") { _, _ -> Response in
            do {
                let body = try await endpoints.status()
                return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
            } catch {
                let body = JSONLine.object([("error", "\(error)")])
                return Response(
                    status: .internalServerError, headers: [.contentType: "application/json"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: body + "\n")))
            }
        }
        router.get("/healthz") { _, _ -> Response in
            switch await endpoints.health() {
            case .healthy:
                return Response(status: .ok, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
            case .unhealthy(let reason):
                return Response(
                    status: .serviceUnavailable, headers: [.contentType: "text/plain"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: reason + "\n")))
            }
        }
        return router
    }

    /// The server, a `Service` for the daemon's service group; `listening` runs once it accepts connections.
    public static func application(
        listen: ListenAddress, endpoints: MonitorEndpoints, logger: Logger, listening: @escaping @Sendable () async -> Void = {}
    ) -> some ApplicationProtocol {
        Application(
            router: router(endpoints),
            configuration: ApplicationConfiguration(address: .hostname(listen.host, port: listen.port), serverName: "sanpath"),
            onServerRunning: { _ in await listening() },
            logger: logger)
    }
}
