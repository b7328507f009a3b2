import CSanpathShims

#if os(Linux)
import Glibc
#endif

/// CLOCK_MONOTONIC, the clock `udevadm monitor` and the kernel's uevent stamps use, and the one
/// systemd wants in `MONOTONIC_USEC`: the daemon's only reader of it. Swift's `SuspendingClock`
/// reads the same clock on Linux but its instants carry no number to compare with those stamps;
/// durations that are compared with nothing outside use `ContinuousClock`.
public enum MonotonicClock {
    /// Seconds since boot (not counting suspend).
    public static func now() -> Double {
        let time = read()
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
    }

    /// Microseconds since boot (not counting suspend), as systemd writes them.
    public static func microseconds() -> UInt64 {
        let time = read()
        return UInt64(time.tv_sec) * 1_000_000 + UInt64(time.tv_nsec) / 1_000
    }

    /// CPU seconds this process has used, all threads (CLOCK_PROCESS_CPUTIME_ID): what a job cost,
    /// as opposed to how long it waited, in the daemon's debug timings.
    public static func processCPU() -> Double {
        let time = read(CLOCK_PROCESS_CPUTIME_ID)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
    }

    private static func read(_ clock: clockid_t = CLOCK_MONOTONIC) -> timespec {
        var time = timespec()
        clock_gettime(clock, &time)
        return time
    }
}

/// The process's malloc heap, for the daemon's debug timings: what grows with the maps watched,
/// and how much of the resident memory is free chunks malloc keeps (glibc `mallinfo2`).
public enum ProcessHeap {
    /// KiB in use by the program (small chunks and mmapped ones), and KiB free but kept by malloc.
    public static func kilobytes() -> (inUse: Int, keptFree: Int) {
        var inUse: UInt64 = 0
        var keptFree: UInt64 = 0
        var mmapped: UInt64 = 0
        sanpath_heap_figures(&inUse, &keptFree, &mmapped)
        return (Int(inUse / 1024), Int(keptFree / 1024))
    }
}
