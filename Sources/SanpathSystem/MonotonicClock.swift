#if os(Linux)
import Glibc
#endif

/// CLOCK_MONOTONIC, the clock `udevadm monitor` and the kernel's uevent stamps use.
enum MonotonicClock {
    /// Seconds since boot (not counting suspend).
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
    }
}
