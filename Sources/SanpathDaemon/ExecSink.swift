#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SanpathCore
import SanpathHealth
import SanpathHost
import SystemPackage

/// Alerts handed to a program: run by argv, never through a shell, with the alert in its
/// environment. Exit 0 is delivered; another status, a signal or the timeout throws so the
/// outbox retries (the program sees the same `SANPATH_ALERT_ID` again and may skip it).
///
/// Variables: `SANPATH_ALERT_ID`, `SANPATH_ALERT_KEY`, `SANPATH_ALERT_STATE` (firing|resolved),
/// `SANPATH_ALERT_KIND`, `SANPATH_ALERT_SEVERITY`, `SANPATH_ALERT_SUMMARY`, `SANPATH_ALERT_MAPS`
/// (comma list), `SANPATH_ALERT_PATHS` (one path per line), `SANPATH_ALERT_TIME`,
/// `SANPATH_ALERT_STARTED_AT` and `SANPATH_ALERT_JSON` (the stdout line).
public struct ExecSink: AlertSink {
    /// `exec:<name>` when given a name (the config's table name), else `exec:<argv joined by
    /// spaces>`. Names reach logs, /status and /metrics: arguments that carry a token call for a name.
    public let name: String
    /// The program and its arguments; the program is an absolute path.
    public let argv: [String]

    private let timeout: Duration
    private let environment: [String: String]

    /// Variables of the daemon a hook must not inherit: with them it could speak to systemd for
    /// the daemon, or take over its sockets.
    static let withheld: Set<String> = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"]

    /// A sink running `argv` (argv[0] an absolute path) for each event, killed after `timeout`.
    /// The program inherits `environment` (the daemon's by default, less systemd's variables)
    /// plus the alert's variables.
    public init(
        argv: [String], name: String? = nil, timeout: Duration = .seconds(30),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.name = "exec:\(name ?? argv.joined(separator: " "))"
        self.argv = argv
        self.timeout = timeout
        self.environment = environment.filter { !ExecSink.withheld.contains($0.key) }
    }

    /// The alert's variables.
    public static func variables(for event: AlertEvent) -> [String: String] {
        [
            "SANPATH_ALERT_ID": event.id,
            "SANPATH_ALERT_KEY": event.alertKey,
            "SANPATH_ALERT_STATE": event.state.rawValue,
            "SANPATH_ALERT_KIND": event.kind,
            "SANPATH_ALERT_SEVERITY": event.severity.rawValue,
            "SANPATH_ALERT_SUMMARY": event.summary,
            "SANPATH_ALERT_MAPS": event.maps.joined(separator: ","),
            "SANPATH_ALERT_PATHS": event.paths.map(\.description).joined(separator: "\n"),
            "SANPATH_ALERT_TIME": AlertEventJSON.timestamp(event.time),
            "SANPATH_ALERT_STARTED_AT": AlertEventJSON.timestamp(event.startedAt),
            "SANPATH_ALERT_JSON": AlertEventJSON.line(event),
        ]
    }

    /// Runs the program once for the event.
    public func deliver(_ event: AlertEvent) async throws {
        guard let program = argv.first, program.hasPrefix("/") else {
            throw SanpathError(.delivery, "exec sink needs an absolute program path, not '\(argv.first ?? "")'")
        }
        let variables = environment.merging(ExecSink.variables(for: event)) { _, alert in alert }
        let (outcome, output) = try await runProgram(argv, environment: variables, timeout: timeout)
        let excerpt = output.isEmpty ? "" : ": \(output)"
        switch outcome {
        case .exited(0):
            return
        case .exited(let status):
            throw SanpathError(.delivery, "\(program) exited with status \(status)\(excerpt)")
        case .signalled(let signal):
            throw SanpathError(.delivery, "\(program) was killed by signal \(signal)\(excerpt)")
        case .timedOut:
            throw SanpathError(.delivery, "\(program) did not finish within \(timeout.seconds) s and was killed\(excerpt)")
        }
    }
}

/// Runs a hook program (swift-subprocess, through the one runner sanpath has) and returns how it
/// ended and the last lines of its output.
///
/// Output (stdout and stderr together) goes to a temporary file, not a pipe: a grandchild that
/// outlives the program may hold a pipe open forever, a file it can only keep writing to. A
/// timeout or a cancellation stops the program's whole process group.
private func runProgram(
    _ argv: [String], environment: [String: String], timeout: Duration
) async throws -> (ProgramExit, String) {
    let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-exec-\(UUID().uuidString)").path
    let output: FileDescriptor
    do {
        // exclusive: a file someone placed there is not written through; close-on-exec: no other hook inherits it
        output = try FileDescriptor.open(
            outputPath, .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec], permissions: [.ownerReadWrite])
    } catch {
        throw SanpathError(.delivery, "cannot create \(outputPath) for the output of \(argv[0]): \(error)")
    }
    defer {
        try? output.close()  // a close error of a file about to be removed tells nothing
        unlink(outputPath)
    }
    let exit = try await SubprocessRunner().runProgram(argv, environment: environment, output: output, timeout: timeout)
    return (exit, outputExcerpt(atPath: outputPath))
}

/// The last three lines of a hook's output, joined with ` | ` (at most 400 bytes read).
private func outputExcerpt(atPath path: String) -> String {
    guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return "" }
    let tail = String(decoding: data.suffix(400), as: UTF8.self)
    return tail.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " | ").trimmingCharacters(in: .whitespaces)
}
