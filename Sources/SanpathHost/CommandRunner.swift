import SanpathCore
import Subprocess
import SystemPackage

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
                        platformOptions: SubprocessRunner.groupTeardown(grace: .seconds(2)),
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

/// How a program started by `SubprocessRunner.runProgram` ended.
public enum ProgramExit: Sendable, Equatable {
    /// It exited with this status.
    case exited(Int32)
    /// A signal ended it.
    case signalled(Int32)
    /// It ran past its time; its whole process group was stopped.
    case timedOut
}

extension SubprocessRunner {
    /// What a stopped program's process group gets: SIGTERM, SIGKILL `grace` later.
    static func groupTeardown(grace: Duration) -> PlatformOptions {
        var options = PlatformOptions()
        // a group of its own (setpgid 0): a timeout reaches the children it started too
        options.processGroupID = 0
        options.teardownSequence = [
            .gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: grace),
            .send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(200)),
        ]
        return options
    }

    /// Runs `argv[0]` (an absolute path, never a shell) with exactly `environment`, stdin from
    /// /dev/null, stdout and stderr to `output`, in a process group of its own, signal mask and
    /// dispositions reset and no descriptor of ours inherited (swift-subprocess does both). After
    /// `timeout`, or when the calling task is cancelled, the group gets SIGTERM and, `grace`
    /// later, SIGKILL; this returns once that is done. Cancellation throws `CancellationError`.
    public func runProgram(
        _ argv: [String], environment: [String: String], output: FileDescriptor, timeout: Duration, grace: Duration = .seconds(2)
    ) async throws -> ProgramExit {
        guard let program = argv.first, program.hasPrefix("/") else {
            throw SanpathError(.command, "a program needs an absolute path, not '\(argv.first ?? "")'")
        }
        // raw entries go to strdup as they are: each needs its NUL (without it the child saw garbage after a value)
        let variables = Environment.custom(environment.sorted { $0.key < $1.key }.map { Array("\($0.key)=\($0.value)".utf8) + [0] })
        let options = SubprocessRunner.groupTeardown(grace: grace)
        return try await withThrowingTaskGroup(of: ProgramExit.self) { group in
            group.addTask {
                let result: ExecutionResult<Void, FileDescriptorOutput, FileDescriptorOutput>
                do {
                    result = try await Subprocess.run(
                        .path(FilePath(program)), arguments: Arguments(Array(argv.dropFirst())), environment: variables,
                        platformOptions: options, input: .none, output: .fileDescriptor(output, closeAfterSpawningProcess: false),
                        error: .fileDescriptor(output, closeAfterSpawningProcess: false))
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    throw SanpathError(.command, "cannot run \(program): \(error)", underlying: error)
                }
                switch result.terminationStatus {
                case .exited(let code): return .exited(Int32(code))
                case .signaled(let signal): return .signalled(Int32(signal))
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return .timedOut
            }
            let first = try await group.next()!
            // a timeout cancels the run, whose teardown stops the group; the group waits for it
            group.cancelAll()
            return first
        }
    }
}
