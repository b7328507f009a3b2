import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

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

    /// The server, a `Service` for the daemon's service group; `listening` runs once it accepts
    /// connections, with the port it is bound to.
    public static func server(
        listen: ListenAddress, endpoints: MonitorEndpoints, logger: Logger, listening: @escaping @Sendable (Int?) async -> Void = { _ in }
    ) -> MonitorHTTPServer {
        MonitorHTTPServer(listen: listen, endpoints: endpoints, logger: logger, listening: listening)
    }
}

/// The HTTP server as a `Service`, built from Hummingbird's HTTP/1 server and the router, without
/// `Application.run()`: that one also runs Hummingbird's `DateCache`, a task that wakes every
/// second to format the `Date` header in advance. An idle daemon is scraped every 15 s or so, and
/// every wake-up of a process that should sleep costs the host (in the lab guest, Dispatch's
/// manager thread went from about 0.18 % of a CPU to 0.06-0.08 % without it, bench-monitor's
/// idle CPU by thread). The header is formatted per response instead.
public struct MonitorHTTPServer: Service {
    let listen: ListenAddress
    let endpoints: MonitorEndpoints
    let logger: Logger
    let listening: @Sendable (Int?) async -> Void

    public func run() async throws {
        let responder = MonitorHTTP.router(endpoints).buildResponder()
        let logger = logger
        let server = try HTTPServerBuilder.http1().buildServer(
            configuration: ServerConfiguration(address: .hostname(listen.host, port: listen.port), serverName: "sanpath"),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger,
            responder: { request, writer, channel in
                let context = BasicRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
                var response: Response
                do {
                    response = try await responder.respond(to: request, context: context)
                } catch {
                    logger.debug("HTTP request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
                    response = Response(status: .internalServerError)
                }
                response.headers[.date] = HTTPDate.now()
                response.headers[.server] = "sanpath"
                try await writer.write(response: response.head, body: response.body)
            },
            onServerRunning: { [listening] channel in await listening(channel.localAddress?.port) })
        try await server.run()
    }
}

/// The `Date` header's IMF-fixdate (RFC 9110 5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
enum HTTPDate {
    static func now() -> String { format(time(nil)) }

    static func format(_ seconds: time_t) -> String {
        var clock = seconds
        var parts = tm()
        gmtime_r(&clock, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
