import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SanpathCore
import SanpathDaemon
import SanpathHealth
import Synchronization
import Testing

/// A webhook receiver: records every request; answers 500 to the first `failures` of them.
final class Receiver: Sendable {
    struct Request: Sendable {
        var path: String
        var contentType: String?
        var body: Data
    }

    private let requests = Mutex<[Request]>([])
    private let failures: Mutex<Int>

    init(failures: Int = 0) { self.failures = Mutex(failures) }

    var received: [Request] { requests.withLock { $0 } }

    func application() -> some ApplicationProtocol {
        let router = Router()
        let record: @Sendable (Hummingbird.Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            self.requests.withLock {
                $0.append(Request(path: request.uri.path, contentType: request.headers[.contentType], body: Data(body.readableBytesView)))
            }
            let fail = self.failures.withLock { remaining -> Bool in
                guard remaining > 0 else { return false }
                remaining -= 1
                return true
            }
            return Response(
                status: fail ? .internalServerError : .ok,
                body: ResponseBody(byteBuffer: ByteBuffer(string: fail ? "storage of alerts failed" : "")))
        }
        router.post("/hook", use: record)
        router.post("/api/v2/alerts", use: record)
        var logger = Logger(label: "receiver")
        logger.logLevel = .critical
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
    }
}

@Suite("webhook sink against a real receiver", .timeLimit(.minutes(1)))
struct WebhookSinkTests {
    @Test("generic: the event JSON, POSTed to the URL as given")
    func generic() async throws {
        let receiver = Receiver()
        try await receiver.application().test(.live) { client in
            let port = try #require(client.port)
            let sink = WebhookSink(url: "http://127.0.0.1:\(port)/hook", format: .generic)
            try await sink.deliver(AlertSamples.nicDown())
            let request = try #require(receiver.received.first)
            #expect(receiver.received.count == 1)
            #expect(request.path == "/hook")
            #expect(request.contentType == "application/json")
            #expect(String(decoding: request.body, as: UTF8.self) == AlertEventJSON.line(AlertSamples.nicDown()))
            #expect(sink.name == "webhook:http://127.0.0.1:\(port)/hook")
            #expect(WebhookSink(url: "http://127.0.0.1:\(port)/hook", name: "ops").name == "webhook:ops")
        }
    }

    @Test("alertmanager: an array of v2 alerts at <base>/api/v2/alerts; endsAt only when resolved")
    func alertmanager() async throws {
        let receiver = Receiver()
        try await receiver.application().test(.live) { client in
            let port = try #require(client.port)
            let sink = WebhookSink(
                url: "http://127.0.0.1:\(port)/", format: .alertmanager, instance: "nc1.cloud", generatorURL: "http://nc1.cloud:9478/status")
            #expect(sink.endpoint == "http://127.0.0.1:\(port)/api/v2/alerts")
            try await sink.deliver(AlertSamples.nicDown(severity: .critical))
            try await sink.deliver(AlertSamples.nicDown(.resolved, severity: .critical))
            #expect(receiver.received.map(\.path) == ["/api/v2/alerts", "/api/v2/alerts"])

            let firing = try #require(try JSONSerialization.jsonObject(with: receiver.received[0].body) as? [[String: Any]])
            #expect(firing.count == 1)
            let alert = firing[0]
            #expect(
                alert["labels"] as? [String: String] == [
                    "alertname": "nic-down", "severity": "critical", "alertkey": "nic-down:eth1", "instance": "nc1.cloud",
                    "maps": "mpatha,mpathb",
                ])
            let annotations = try #require(alert["annotations"] as? [String: String])
            #expect(annotations["summary"] == "NIC eth1 is down: 2 paths of mpatha, mpathb lost")
            #expect(annotations["paths"] == "sdb (mpatha) via iface1/eth1 to 10.108.1.200:3260\nsdd (mpathb)")
            #expect(alert["startsAt"] as? String == "2026-05-28T20:26:40.125Z")
            #expect(alert["endsAt"] == nil)
            #expect(alert["generatorURL"] as? String == "http://nc1.cloud:9478/status")

            let resolved = try #require(try JSONSerialization.jsonObject(with: receiver.received[1].body) as? [[String: Any]])
            #expect(resolved[0]["endsAt"] as? String == "2026-05-28T20:28:10.125Z")
            // the same labels, so Alertmanager matches the resolution to the alert
            #expect(resolved[0]["labels"] as? [String: String] == alert["labels"] as? [String: String])
        }
    }

    @Test("a single map is also a `map` label; resend posts every firing alert at once")
    func resend() async throws {
        let receiver = Receiver()
        try await receiver.application().test(.live) { client in
            let port = try #require(client.port)
            let sink = WebhookSink(url: "http://127.0.0.1:\(port)/api/v2/alerts", format: .alertmanager, instance: "nc1")
            #expect(sink.endpoint == "http://127.0.0.1:\(port)/api/v2/alerts")
            try await sink.resend([AlertSamples.numbered(1), AlertSamples.numbered(2)])
            try await WebhookSink(url: "http://127.0.0.1:\(port)/hook").resend([AlertSamples.numbered(1)])
            #expect(receiver.received.count == 1)
            let alerts = try #require(try JSONSerialization.jsonObject(with: receiver.received[0].body) as? [[String: Any]])
            #expect(alerts.count == 2)
            #expect((alerts[0]["labels"] as? [String: String])?["map"] == "mpatha")
            #expect((alerts[1]["labels"] as? [String: String])?["alertkey"] == "path-lost:sd2")
        }
    }

    @Test("a 500 throws with the status and the receiver's words")
    func serverError() async throws {
        let receiver = Receiver(failures: 1)
        try await receiver.application().test(.live) { client in
            let port = try #require(client.port)
            let sink = WebhookSink(url: "http://user:secret@127.0.0.1:\(port)/hook?token=T0KEN")
            let error = try await #require(throws: SanpathError.self) { try await sink.deliver(AlertSamples.nicDown()) }
            #expect(error.code == .delivery)
            #expect(error.message.hasPrefix("POST to http://127.0.0.1:\(port) answered 500"))
            #expect(error.message.contains("storage of alerts failed"))
            // credentials and tokens of the URL stay out of messages, credentials out of the name
            #expect(!error.message.contains("secret"))
            #expect(!error.message.contains("T0KEN"))
            #expect(sink.name == "webhook:http://127.0.0.1:\(port)/hook?token=T0KEN")
        }
    }

    @Test("nothing listening: the connection failure throws")
    func unreachable() async throws {
        // a port that was just free: bind, note it, close
        let port = try await Receiver().application().test(.live) { client in try #require(client.port) }
        let sink = WebhookSink(url: "http://127.0.0.1:\(port)/hook", timeout: .seconds(1))
        let error = try await #require(throws: SanpathError.self) { try await sink.deliver(AlertSamples.nicDown()) }
        #expect(error.code == .delivery)
        #expect(error.message.contains("POST to http://127.0.0.1:\(port) failed"))
    }

    @Test("through the outbox, a receiver that answers 500 twice gets the alert on the third attempt")
    func retriesThroughOutbox() async throws {
        let receiver = Receiver(failures: 2)
        try await receiver.application().test(.live) { client in
            let port = try #require(client.port)
            let sink = WebhookSink(url: "http://127.0.0.1:\(port)/", format: .alertmanager, instance: "nc1")
            let database = try StateDatabase.inMemory()
            let delivery = AlertDelivery(
                database: database, sinks: [sink],
                configuration: .init(backoff: Backoff(initial: .milliseconds(5), maximum: .milliseconds(20))), logger: quietLogger())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await delivery.run() }
                await delivery.dispatch([AlertSamples.nicDown()])
                try await eventually { try await delivery.outbox.pending().isEmpty }
                group.cancelAll()
            }
            #expect(receiver.received.count == 3)
            let entry = try #require(try await delivery.outbox.all().first)
            #expect(entry.attempts == 2)
            #expect(entry.lastError?.contains("answered 500") == true)
            #expect(entry.deliveredAt != nil)
        }
    }
}

/// A logger that prints nothing below critical.
func quietLogger() -> Logger {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}
