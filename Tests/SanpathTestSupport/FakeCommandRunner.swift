import SanpathCore
import SanpathHost
import Synchronization

/// Runs nothing: answers each argv from a table (exit 0 and no output when it has none) and
/// remembers every argv, in order.
public final class FakeCommandRunner: CommandRunner {
    private let replies: [[String]: CommandResult]
    private let log = Mutex<[[String]]>([])
    private let sequences: Mutex<[[String]: [CommandResult]]>

    /// `multipathd show daemon` answers as a running multipathd unless `replies` says otherwise.
    /// An argv in `sequences` gets its results in turn (the last one again once they run out).
    public init(_ replies: [[String]: CommandResult] = [:], sequences: [[String]: [CommandResult]] = [:]) {
        var all = [["multipathd", "show", "daemon"]: CommandResult(status: 0, stdout: "pid 415 idle\n", stderr: "")]
        all.merge(replies) { _, new in new }
        self.replies = all
        self.sequences = Mutex(sequences)
    }

    /// Every argv run, in order.
    public var argvs: [[String]] { log.withLock { $0 } }

    public func run(_ argv: [String], timeoutSeconds: Double) async throws(SanpathError) -> CommandResult {
        log.withLock { $0.append(argv) }
        let next = sequences.withLock { table -> CommandResult? in
            guard let results = table[argv], let first = results.first else { return nil }
            if results.count > 1 { table[argv] = Array(results.dropFirst()) }
            return first
        }
        return next ?? replies[argv] ?? CommandResult(status: 0, stdout: "", stderr: "")
    }
}

