import SanpathDaemon
import SanpathSystem
import SanpathTestSupport
import Synchronization
import Testing

@Suite("probe rounds", .timeLimit(.minutes(1)))
struct ProbeServiceTests {
    /// Runs one probe service (an hour between rounds) until `results` has `count` entries.
    func results(of prober: any ConnectProber, count: Int) async throws -> [Double?] {
        let recorded = Mutex<[Double?]>([])
        let target = ProbeTarget(host: "10.0.1.1", port: 3260, device: "eth1") { latency in recorded.withLock { $0.append(latency) } }
        let service = ProbeService(prober: prober, targets: { [target] }, interval: { .seconds(3600) }, timeout: { .milliseconds(500) })
        let task = Task { try await service.run() }
        defer { task.cancel() }
        while recorded.withLock({ $0.count }) < count { try await Task.sleep(for: .milliseconds(10)) }
        // nothing more comes in this round (a second probe of an answering portal would)
        try await Task.sleep(for: .milliseconds(200))
        return recorded.withLock { $0 }
    }

    @Test("a failed probe is asked again at once: two failures in a row within one round, not one interval apart")
    func failedTwice() async throws {
        #expect(try await results(of: FakeConnectProber(latencies: [:]), count: 2) == [nil, nil])
    }

    @Test("an answering portal is probed once a round")
    func answeredOnce() async throws {
        #expect(try await results(of: FakeConnectProber(latencies: ["10.0.1.1:3260%eth1": 0.001]), count: 1) == [0.001])
    }
}
