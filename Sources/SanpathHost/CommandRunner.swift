import SanpathCore
import Subprocess

/// What a finished command left behind.
public struct CommandResult: Sendable, Hashable {
    /// Exit status (128 + signal for a signalled process).
    public var status: Int32
    /// Standard output.
    public var stdout: String
    /// Standard error.
    public var stderr: String

    /// Creates a result.
    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Whether it exited with 0.
    public var succeeded: Bool { status == 0 }
}

/// Runs programs by argv (never through a shell). The boundary tests replace.
public protocol CommandRunner: Sendable {
    /// Runs `argv[0]` (looked up in PATH) with the rest as arguments. A program that is not
    /// installed is an error of code `.command`.
    func run(_ argv: [String], timeoutSeconds: Double) async throws(SanpathError) -> CommandResult
}

/// The real runner, on swift-subprocess.
public struct SubprocessRunner: CommandRunner {
    /// Creates the runner.
    public init() {}

    public func run(_ argv: [String], timeoutSeconds: Double) async throws(SanpathError) -> CommandResult {
        guard let program = argv.first else { throw SanpathError(.command, "empty command") }
        do {
            return try await withThrowingTaskGroup(of: CommandResult?.self) { group in
                group.addTask {
                    let result = try await Subprocess.run(
                        .name(program), arguments: Arguments(Array(argv.dropFirst())),
                        output: .string(limit: 32 << 20), error: .string(limit: 1 << 20))
                    let status: Int32 =
                        switch result.terminationStatus {
                        case .exited(let code): Int32(code)
                        case .signaled(let signal): 128 + Int32(signal)
                        }
                    return CommandResult(
                        status: status, stdout: result.standardOutput ?? "", stderr: result.standardError ?? "")
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(Int(timeoutSeconds * 1000)))
                    return nil
                }
                let first = try await group.next()!
                group.cancelAll()
                guard let result = first else {
                    throw SanpathError(.command, "\(argv.joined(separator: " ")) did not finish within \(timeoutSeconds) s")
                }
                return result
            }
        } catch let error as SanpathError {
            throw error
        } catch {
            throw SanpathError(.command, "cannot run \(program): \(error)", underlying: error)
        }
    }
}
