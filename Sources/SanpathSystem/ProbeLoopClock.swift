import Synchronization

#if os(Linux)
import Glibc
#endif

/// A probe loop that runs on a thread of its own and reports only what the daemon must see
/// (`SynProbeLoop` for the portals, `ConnectProbeLoop` for the SAN management hosts).
public protocol ProbeThreadLoop: Sendable {
    /// Probes every `interval()` seconds, each within `timeout()`, handing `report` what the
    /// daemon must see, until `stop()`. Blocks.
    func run(interval: () -> Double, timeout: () -> Double, report: ([ProbeLoopReport]) -> Void)
    /// Ends `run` within a moment.
    func stop()
}

/// One probe result a loop reports.
public struct ProbeLoopReport: Sendable, Hashable {
    /// Index of the target in the loop's order.
    public var index: Int
    /// Seconds to the answer (SYN-ACK, or connect); nil: the probe failed.
    public var latency: Double?
    /// Why it failed (`SYN: no answer within 0.5 s`, `connect: Connection refused`).
    public var failure: String?

    /// Creates a report.
    public init(index: Int, latency: Double?, failure: String?) {
        self.index = index
        self.latency = latency
        self.failure = failure
    }
}

/// The stop flag and the sleep between rounds of a probe loop that runs on a thread of its own
/// (`SynProbeLoop`, `ConnectProbeLoop`): a pipe whose write end wakes the sleep when the loop must
/// stop, so a stop does not wait for the rest of an interval.
final class ProbeLoopClock: Sendable {
    private let wake: (read: Int32, write: Int32)
    private let stopped = Atomic<Bool>(false)

    /// Nil when no pipe can be made.
    init?() {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return nil }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        wake = (ends[0], ends[1])
    }

    deinit {
        close(wake.read)
        close(wake.write)
    }

    /// Whether `stop()` was called.
    var isStopped: Bool { stopped.load(ordering: .sequentiallyConsistent) }

    /// Ends the current and every later `wait`.
    func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        var one: UInt8 = 1
        _ = write(wake.write, &one, 1)
    }

    /// Sleeps `seconds`, or less when `stop()` is called.
    func wait(seconds: Double) {
        var entry = pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)
        let deadline = MonotonicClock.now() + seconds
        while !isStopped {
            let left = deadline - MonotonicClock.now()
            guard left > 0 else { return }
            if poll(&entry, 1, Int32((left * 1000).rounded(.up))) != 0, errno != EINTR { return }
        }
    }
}
