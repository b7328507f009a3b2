import Foundation
import Glibc
import Synchronization
import Testing

@testable import SanpathSystem

/// Runs a loop on a thread of its own and collects its reports.
private final class LoopRun: Sendable {
    let loop: SynProbeLoop
    let reports = Mutex<[[SynProbeLoop.Report]]>([])
    let finished = Atomic<Bool>(false)

    init(_ loop: SynProbeLoop, interval: Double = 0.05, timeout: Double = 0.5) {
        self.loop = loop
        let thread = Thread { [self] in
            loop.run(interval: { interval }, timeout: { timeout }, report: { round in self.reports.withLock { $0.append(round) } })
            self.finished.store(true, ordering: .sequentiallyConsistent)
        }
        thread.start()
    }

    /// Waits (bounded) until `condition` holds for the reports so far.
    func wait(for condition: ([[SynProbeLoop.Report]]) -> Bool) async throws {
        for _ in 0..<400 {
            if reports.withLock({ condition($0) }) { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("the loop never reported what the test waits for: \(reports.withLock { $0 })")
    }

    func stop() async throws {
        loop.stop()
        for _ in 0..<400 where !finished.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(25)) }
        let ended = finished.load(ordering: .sequentiallyConsistent)
        #expect(ended, "stop() ends run()")
    }
}

@Suite(
    "the portal probe loop: rounds on a thread of their own, reporting only what changes", .timeLimit(.minutes(1)),
    .enabled(if: rawSocketsAllowed, "needs CAP_NET_RAW for a raw socket: run as root"))
struct SynProbeLoopTests {
    @Test("answering portals are reported once, then rounds go on silently; a portal that stops is reported twice (confirmed at once)")
    func changesOnly() async throws {
        let a = try Listener(family: AF_INET)
        var b: Listener? = try Listener(family: AF_INET)
        let portB = b!.port
        let loop = try #require(
            SynProbeLoop(endpoints: [.init(host: "127.0.0.1", port: a.port, device: "lo"), .init(host: "127.0.0.1", port: portB, device: nil)]))
        let run = LoopRun(loop)
        try await run.wait { !$0.isEmpty }
        // top -H and /proc/PID/task/*/comm show the loop's thread by name (the bench's per-thread CPU reads it)
        let names = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").map {
            try String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8).trimmingCharacters(in: .newlines)
        }
        #expect(names.contains("sanpath-probes"), "threads: \(names)")
        let first = run.reports.withLock { $0 }
        #expect(first.count == 1 && first[0].map(\.index) == [0, 1] && first[0].allSatisfy { $0.latency != nil && $0.failure == nil })
        // a dozen rounds of answers: nothing more to say
        try await Task.sleep(for: .milliseconds(600))
        #expect(run.reports.withLock { $0.count } == 1, "answering portals are not reported again")
        // portal B stops listening: its RST is a failure, and the confirming probe's too, in one report
        b = nil
        try await run.wait { $0.count >= 2 }
        let failure = run.reports.withLock { $0[1] }
        #expect(failure.map(\.index) == [1, 1])
        #expect(failure.allSatisfy { $0.latency == nil && $0.failure == "SYN: refused (RST: nothing listens on the port)" })
        try await run.stop()
        _ = a
    }

    @Test("a portal that answers again after failing is reported at its first answer")
    func recovers() async throws {
        var listener: Listener? = try Listener(family: AF_INET)
        let port = listener!.port
        let loop = try #require(SynProbeLoop(endpoints: [.init(host: "127.0.0.1", port: port, device: nil)]))
        listener = nil
        let run = LoopRun(loop)
        try await run.wait { $0.contains { $0.contains { $0.latency == nil } } }
        // listen on the same port again (SO_REUSEADDR: the refused SYNs left no TIME_WAIT)
        let back = try Listener(family: AF_INET, port: port)
        try await run.wait { $0.last?.last?.latency != nil }
        let reports = run.reports.withLock { $0 }.flatMap { $0 }
        #expect(reports.first?.latency == nil, "the first round failed")
        #expect(reports.filter { $0.latency != nil }.count == 1, "one answer reported, the first after the failures")
        try await run.stop()
        _ = back
    }

    @Test("an unknown NIC fails each round with its reason, and the loop goes on")
    func unknownNIC() async throws {
        let listener = try Listener(family: AF_INET)
        let loop = try #require(SynProbeLoop(endpoints: [.init(host: "127.0.0.1", port: listener.port, device: "sanpath-no-nic0")]))
        let run = LoopRun(loop)
        try await run.wait { $0.count >= 2 }
        let reports = run.reports.withLock { $0 }.flatMap { $0 }
        #expect(reports.allSatisfy { $0.latency == nil && $0.failure?.hasPrefix("bind to NIC: ") == true }, "\(reports)")
        try await run.stop()
    }

    @Test("a loop is made only for IPv4 addresses (a name needs the resolver, IPv6 a connect)")
    func ipv4Only() {
        #expect(SynProbeLoop(endpoints: [.init(host: "localhost", port: 3260, device: nil)]) == nil)
        #expect(SynProbeLoop(endpoints: [.init(host: "::1", port: 3260, device: nil)]) == nil)
        #expect(SynProbeLoop(endpoints: []) == nil)
        #expect(SynProbeLoop(endpoints: [.init(host: "192.0.2.2", port: 3260, device: nil)]) != nil)
    }
}
