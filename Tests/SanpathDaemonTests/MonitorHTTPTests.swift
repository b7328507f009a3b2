import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SanpathCore
@testable import SanpathDaemon
import Synchronization
import Testing

@Suite("HTTP endpoints", .timeLimit(.minutes(1)))
struct MonitorHTTPTests {
    func endpoints(health: HealthState = .healthy, statusFails: Bool = false) -> MonitorEndpoints {
        MonitorEndpoints(
            metrics: { metricsInput() },
            status: {
                if statusFails { throw SanpathError(.io, "no snapshot yet") }
                return Data(#"{"worst":"warning","maps":[]}"#.utf8)
            },
            health: { health })
    }

    func app(_ endpoints: MonitorEndpoints) -> some ApplicationProtocol {
        Application(router: MonitorHTTP.router(endpoints), logger: quietLogger())
    }

    @Test("GET /metrics: Prometheus text of the state at request time")
    func metrics() async throws {
        try await app(endpoints()).test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                let text = String(buffer: response.body)
                #expect(samples(text)[#"sanpath_map_valid_paths{map="mpatha",wwid="36090a0c8a0a1b2c3d4e5f60000000001"}"#] == 1)
            }
        }
    }

    @Test("each scrape asks again: a map that went away is gone from the next scrape")
    func freshPerScrape() async throws {
        let snapshot = Mutex(metricsSnapshot())
        let endpoints = MonitorEndpoints(
            metrics: { metricsInput(snapshot.withLock { $0 }) }, status: { Data("{}".utf8) }, health: { .healthy })
        try await app(endpoints).test(.router) { client in
            let before = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            snapshot.withLock { $0.maps.removeLast() }
            let after = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(before.contains("mpathb"))
            #expect(!after.contains("mpathb"))
        }
    }

    @Test("GET /status: the provider's JSON; its failure is a 500 with the reason in JSON")
    func status() async throws {
        try await app(endpoints()).test(.router) { client in
            try await client.execute(uri: "/status", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(String(buffer: response.body) == #"{"worst":"warning","maps":[]}"#)
            }
        }
        try await app(endpoints(statusFails: true)).test(.router) { client in
            try await client.execute(uri: "/status", method: .get) { response in
                #expect(response.status == .internalServerError)
                let object = try jsonObject(String(buffer: response.body))
                #expect(object["error"] as? String == "no snapshot yet")
            }
        }
    }

    @Test("GET /healthz: 200 ok, or 503 and why")
    func healthz() async throws {
        try await app(endpoints()).test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "ok\n")
            }
        }
        try await app(endpoints(health: .unhealthy("no full scan yet"))).test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body) == "no full scan yet\n")
            }
        }
    }

    @Test("unknown paths are 404")
    func notFound() async throws {
        try await app(endpoints()).test(.router) { client in
            try await client.execute(uri: "/", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/metrics", method: .post) { #expect($0.status != .ok) }
        }
    }

    /// Runs the daemon's server on `host`, port 0 (the kernel's choice), for the length of `body`.
    static func serving(host: String = "127.0.0.1", _ endpoints: MonitorEndpoints, body: (Int) async throws -> Void) async throws {
        let (ports, continuation) = AsyncStream.makeStream(of: Int?.self)
        let server = MonitorHTTP.server(
            listen: ListenAddress(host: host, port: 0), endpoints: endpoints, logger: quietLogger(), listening: { continuation.yield($0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next() ?? nil)
            do {
                try await body(port)
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }

    @Test("the daemon's server answers on the configured loopback address, with a Date header")
    func live() async throws {
        try await Self.serving(endpoints()) { port in
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                let response = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(10))
                let body = try await response.body.collect(upTo: 1024)
                #expect(response.status == .ok)
                #expect(String(buffer: body) == "ok\n")
                // IMF-fixdate, e.g. "Mon, 30 Nov 2026 19:31:06 GMT", of the request's second
                let date = try #require(response.headers.first(name: "date"))
                #expect(date.wholeMatch(of: /[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT/) != nil)
                #expect(response.headers.first(name: "server") == "sanpath")
                let missing = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/nowhere"), timeout: .seconds(10))
                #expect(missing.status == .notFound)
            } catch {
                try await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }

    @Test("the Date header's format (RFC 9110 IMF-fixdate)", arguments: [(0, "Thu, 01 Jan 1970 00:00:00 GMT"), (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"), (1_796_067_077, "Mon, 30 Nov 2026 19:31:17 GMT")])
    func dateHeader(seconds: Int, text: String) {
        #expect(HTTPDate.format(time_t(seconds)) == text)
    }

    @Test(
        "listen addresses",
        arguments: [
            ("127.0.0.1:9478", "127.0.0.1", 9478), ("[::1]:9100", "::1", 9100), ("0.0.0.0:80", "0.0.0.0", 80),
            ("monitor.local:65535", "monitor.local", 65535),
        ])
    func listenAddress(text: String, host: String, port: Int) throws {
        let address = try #require(ListenAddress(parsing: text))
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.description == text)
    }

    @Test("malformed listen addresses", arguments: ["9478", ":9478", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:9478", "[::1]9478", "[127.0.0.1]:80", "host:80x", "a b:80"])
    func badListenAddress(text: String) {
        #expect(ListenAddress(parsing: text) == nil)
    }
}
