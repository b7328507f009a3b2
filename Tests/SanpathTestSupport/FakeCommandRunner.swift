import SanpathCore
import SanpathHost
import Synchronization

/// Runs nothing: answers each argv from a table (exit 0 and no output when it has none) and
/// remembers every argv, in order.
public final class FakeCommandRunner: CommandRunner {
    private let replies: [[String]: CommandResult]
    private let log = Mutex<[[String]]>([])

    /// `multipathd show daemon` answers as a running multipathd unless `replies` says otherwise.
    public init(_ replies: [[String]: CommandResult] = [:]) {
        var all = [["multipathd", "show", "daemon"]: CommandResult(status: 0, stdout: "pid 415 idle\n", stderr: "")]
        all.merge(replies) { _, new in new }
        self.replies = all
    }

    /// Every argv run, in order.
    public var argvs: [[String]] { log.withLock { $0 } }

    public func run(_ argv: [String], timeoutSeconds: Double) async throws(SanpathError) -> CommandResult {
        log.withLock { $0.append(argv) }
        return replies[argv] ?? CommandResult(status: 0, stdout: "", stderr: "")
    }
}

