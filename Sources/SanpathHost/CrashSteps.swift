#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The steps of a file change (create the temp file, write, fsync, rename, unlink), counted so
/// that the kill-9 tests can stop sanpath between any two of them. Test-only switches, read once:
/// `SANPATH_TEST_KILL_AT_STEP=N` makes the process SIGKILL itself just before its Nth step;
/// `SANPATH_TEST_STEP_PAUSE_US=N` sleeps that long before each step, so that a kill sent from
/// outside at a random moment lands inside a change. Unset (every real run), a step is one
/// atomic increment.
public enum CrashSteps {
    private static let killAt: Int? = environment("SANPATH_TEST_KILL_AT_STEP").flatMap { Int($0) }
    private static let pause: UInt32? = environment("SANPATH_TEST_STEP_PAUSE_US").flatMap { UInt32($0) }
    private static let count = Atomic<Int>(0)

    private static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

    /// Marks the start of a step; `what` names it in the message of a test kill.
    public static func step(_ what: @autoclosure () -> String) {
        let number = count.add(1, ordering: .relaxed).newValue
        if let pause { usleep(pause) }
        guard let killAt, number == killAt else { return }
        let line = "sanpath: SANPATH_TEST_KILL_AT_STEP=\(number): killed before \(what())\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        kill(getpid(), SIGKILL)
    }
}
