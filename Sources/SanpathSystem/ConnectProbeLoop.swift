import CSanpathShims

/// TCP connect probes of the SAN management hosts, on a thread of their own, reporting only what
/// the daemon must see: every failure (a failed probe is repeated at once, two in a row mark a
/// host unreachable), a host's first answer of all or after a failure, and an answer whose
/// connect time doubled or halved (by more than 1 ms) since the one last reported, so the latency
/// metric stays within a factor of two. While the hosts answer as before, a round costs the
/// process its connects and nothing in the async runtime or the engine.
///
/// Measured in the lab guest (bench-monitor 1b): the same probes as Swift tasks, every 10 s,
/// cost the idle daemon 0.23 % of a CPU, most of it Dispatch creating worker threads for each
/// round (they exit after a few idle seconds) and the engine's evaluation of every result.
///
/// The hosts are probed one after another: a failover list of two or three hosts, each within
/// its timeout. Names are resolved at every probe (a host's address may move); addresses are not.
public final class ConnectProbeLoop: ProbeThreadLoop {
    /// A SAN management host.
    public struct Target: Sendable, Hashable {
        /// Name or address.
        public var host: String
        /// TCP port.
        public var port: Int

        /// Creates a target.
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// One probe result the daemon must see.
    public typealias Report = ProbeLoopReport

    private let targets: [Target]
    private let probe: @Sendable (Target, Double) -> Result<Double, TCPProber.Failure>
    private let clock: ProbeLoopClock

    /// A loop over `targets`; `probe` connects (the default: `TCPProber`'s blocking connect).
    /// Nil when no target is given or no pipe can be made.
    public init?(
        targets: [Target],
        probe: @escaping @Sendable (Target, Double) -> Result<Double, TCPProber.Failure> = {
            TCPProber.probeBlocking(host: $0.host, port: $0.port, timeout: $1, device: nil)
        }
    ) {
        guard !targets.isEmpty, let clock = ProbeLoopClock() else { return nil }
        self.targets = targets
        self.probe = probe
        self.clock = clock
    }

    /// Ends `run` within a moment (after the probe under way, at most its timeout).
    public func stop() { clock.stop() }

    /// Probes every `interval()` seconds, each probe within `timeout()` seconds (both read each
    /// round: a reload takes effect), and hands `report` what the daemon must see, in order,
    /// until `stop()`. Blocks: run it on a thread of its own.
    public func run(interval: () -> Double, timeout: () -> Double, report: ([Report]) -> Void) {
        _ = sanpath_name_this_thread("sanpath-sanhost")
        // the connect time last reported of each target; nil: a failure, or nothing yet
        var lastReported = [Double?](repeating: nil, count: targets.count)
        while !clock.isStopped {
            let limit = timeout()
            var reports: [Report] = []
            for (index, target) in targets.enumerated() where !clock.isStopped {
                var result = probe(target, limit)
                if case .failure(let failure) = result {
                    reports.append(Report(index: index, latency: nil, failure: failure.description))
                    lastReported[index] = nil
                    guard !clock.isStopped else { break }
                    result = probe(target, limit)
                }
                switch result {
                case .failure(let failure):
                    reports.append(Report(index: index, latency: nil, failure: failure.description))
                case .success(let latency):
                    if Self.isNews(latency, after: lastReported[index]) {
                        reports.append(Report(index: index, latency: latency, failure: nil))
                        lastReported[index] = latency
                    }
                }
            }
            if !reports.isEmpty { report(reports) }
            clock.wait(seconds: interval())
        }
    }

    /// Whether an answer must be reported: the first after a failure or of all, or a connect
    /// time that doubled or halved by more than a millisecond.
    static func isNews(_ latency: Double, after last: Double?) -> Bool {
        guard let last else { return true }
        return latency > 2 * last + 0.001 || 2 * latency + 0.001 < last
    }
}
