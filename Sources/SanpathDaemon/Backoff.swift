/// Exponential backoff with jitter: 1 s, 2 s, 4 s … up to 5 minutes, each delay drawn between
/// half and all of its nominal value ("equal jitter"), so sinks that failed together do not all
/// retry in the same second.
public struct Backoff: Sendable {
    /// The nominal delay after the first failure.
    public var initial: Duration
    /// The longest delay.
    public var maximum: Duration
    /// A number in 0..<1 per draw (random by default; tests pin it).
    public var jitter: @Sendable () -> Double

    /// A backoff from `initial` doubling to `maximum`.
    public init(
        initial: Duration = .seconds(1), maximum: Duration = .seconds(300),
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The nominal delay after `failures` failed attempts (1 → `initial`).
    public func nominalDelay(afterFailures failures: Int) -> Duration {
        let doublings = max(0, min(failures - 1, 62))
        var delay = initial
        for _ in 0..<doublings {
            delay *= 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }

    /// The delay to wait after `failures` failed attempts: between half and all of the nominal one.
    public func delay(afterFailures failures: Int) -> Duration {
        let nominal = nominalDelay(afterFailures: failures)
        let fraction = 0.5 + 0.5 * min(max(jitter(), 0), 1)
        return nominal * fraction
    }
}
