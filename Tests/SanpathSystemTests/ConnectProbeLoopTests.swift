import Foundation
import Glibc
import Synchronization
import Testing

@testable import SanpathSystem

/// Runs a connect loop on a thread of its own with a scripted probe: each target answers with
/// the next of its results (the last one repeats), and the rounds are counted.
private final class ScriptedRun: Sendable {
    /// Probes made so far, by host.
    final class Counts: Sendable {
        let byHost = Mutex<[String: Int]>([:])
    }

    let loop: ConnectProbeLoop
    let reports = Mutex<[[ConnectProbeLoop.Report]]>([])
    let counts = Counts()
    let finished = Atomic<Bool>(false)

    init(_ script: [String: [Result<Double, TCPProber.Failure>]], interval: Double = 0.01) throws {
        let counts = self.counts
        let targets = script.keys.sorted().map { ConnectProbeLoop.Target(host: $0, port: 22) }
        loop = try #require(
            ConnectProbeLoop(targets: targets) { target, _ in
                let results = script[target.host]!
                let count = counts.byHost.withLock { seen in
                    defer { seen[target.host, default: 0] += 1 }
                    return seen[target.host, default: 0]
                }
                return results[min(count, results.count - 1)]
            })
        let thread = Thread { [self] in
            loop.run(interval: { interval }, timeout: { 2 }, report: { round in self.reports.withLock { $0.append(round) } })
            self.finished.store(true, ordering: .sequentiallyConsistent)
        }
        thread.start()
    }

    /// Waits (bounded) until `host` was probed `count` times.
    func wait(probes count: Int, of host: String) async throws {
        for _ in 0..<400 {
            if counts.byHost.withLock({ $0[host, default: 0] }) >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("\(host) was probed \(counts.byHost.withLock { $0[host, default: 0] }) times, not \(count)")
    }

    func stop() async throws {
        loop.stop()
        for _ in 0..<400 where !finished.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(10)) }
        let ended = finished.load(ordering: .sequentiallyConsistent)
        #expect(ended, "stop() ends run()")
    }

    var flat: [ConnectProbeLoop.Report] { reports.withLock { $0.flatMap { $0 } } }
}

private let refused = TCPProber.Failure(step: "connect", reason: "Connection refused")

@Suite("the SAN host connect loop: probes on a thread of their own, reporting only what changes", .timeLimit(.minutes(1)))
struct ConnectProbeLoopTests {
    @Test("a host answering as before is reported once, however many rounds")
    func steadyAnswersOnce() async throws {
        let run = try ScriptedRun(["san-a": [.success(0.0004), .success(0.0006), .success(0.0005)]])
        try await run.wait(probes: 20, of: "san-a")
        try await run.stop()
        #expect(run.flat == [ConnectProbeLoop.Report(index: 0, latency: 0.0004, failure: nil)])
    }

    @Test("a failure is confirmed at once and both are reported; the first answer after it is reported")
    func failureConfirmedThenRecovery() async throws {
        let run = try ScriptedRun(["san-a": [.success(0.002), .failure(refused), .failure(refused), .success(0.002)]])
        try await run.wait(probes: 10, of: "san-a")
        try await run.stop()
        #expect(
            run.flat == [
                .init(index: 0, latency: 0.002, failure: nil), .init(index: 0, latency: nil, failure: "connect: Connection refused"),
                .init(index: 0, latency: nil, failure: "connect: Connection refused"), .init(index: 0, latency: 0.002, failure: nil),
            ])
        // the confirming probe came in the same round as the first failure: one report of both
        #expect(run.reports.withLock { $0[1].count } == 2)
    }

    @Test("one failure answered by the confirming probe: the host never stopped answering, both are said")
    func flakeAnsweredAtOnce() async throws {
        let run = try ScriptedRun(["san-a": [.success(0.002), .failure(refused), .success(0.002)]])
        try await run.wait(probes: 10, of: "san-a")
        try await run.stop()
        #expect(run.flat.map(\.latency) == [0.002, nil, 0.002])
    }

    @Test("a connect time that doubles or halves is reported, one that wobbles is not")
    func latencyMoves() async throws {
        let run = try ScriptedRun(["san-a": [.success(0.010), .success(0.015), .success(0.025), .success(0.030), .success(0.008)]])
        try await run.wait(probes: 10, of: "san-a")
        try await run.stop()
        #expect(run.flat.map(\.latency) == [0.010, 0.025, 0.008])
    }

    @Test("each host has its own state; reports keep the targets' order")
    func twoHosts() async throws {
        let run = try ScriptedRun(["san-a": [.success(0.001)], "san-b": [.failure(refused)]])
        try await run.wait(probes: 6, of: "san-b")
        try await run.stop()
        let first = try #require(run.reports.withLock { $0.first })
        #expect(first.map(\.index) == [0, 1, 1])
        // san-b fails every round (each failure said, twice a round); san-a only once
        #expect(run.flat.filter { $0.index == 0 }.count == 1)
        #expect(run.flat.filter { $0.index == 1 }.allSatisfy { $0.latency == nil })
    }

    @Test("when a connect time is news", arguments: [
        (0.010, nil as Double?, true), (0.010, 0.010, false), (0.019, 0.010, false), (0.022, 0.010, true), (0.005, 0.010, false),
        (0.004, 0.010, true), (0.0015, 0.0005, false), (0.0025, 0.0005, true),
    ])
    func news(latency: Double, last: Double?, expected: Bool) {
        #expect(ConnectProbeLoop.isNews(latency, after: last) == expected)
    }

    @Test("the real connect: a loopback listener answers, a freed port is refused; the thread is named")
    func realConnect() async throws {
        let listener = try Listener(family: AF_INET)
        let freed = try Listener.freedPort()
        let loop = try #require(
            ConnectProbeLoop(targets: [.init(host: "127.0.0.1", port: listener.port), .init(host: "127.0.0.1", port: freed)]))
        let reports = Mutex<[[ConnectProbeLoop.Report]]>([])
        let names = Mutex<[String]>([])
        let done = Atomic<Bool>(false)
        Thread {
            loop.run(interval: { 0.05 }, timeout: { 2 }) { round in
                reports.withLock { $0.append(round) }
                let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
                names.withLock { $0 = threads.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) } }
            }
            done.store(true, ordering: .sequentiallyConsistent)
        }.start()
        for _ in 0..<400 where reports.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
        loop.stop()
        for _ in 0..<400 where !done.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(10)) }
        let first = try #require(reports.withLock { $0.first })
        #expect(first.map(\.index) == [0, 1, 1])
        #expect(first[0].latency != nil)
        #expect(first[1].failure == "connect: Connection refused")
        #expect(names.withLock { $0 }.contains("sanpath-sanhost\n"))
        _ = listener
    }
}
