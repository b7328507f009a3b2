import ArgumentParser
import Foundation
import Logging
import SanpathCore
import SanpathDaemon

/// `sanpath`: the root command. Every verb is a type of its own.
public struct SanpathCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sanpath",
        abstract: "Configure and watch multipathed iSCSI storage (EqualLogic, NetApp, VNX) on Linux hosts.",
        discussion: HelpText.prose("""
            A host is described by its site: vendor, role (nc or sc), iSCSI paths, SAN management hosts
            and the iface-to-NIC map. sanpath reads it from /etc/sanpath/site.toml, from Eucalyptus'
            own files (--properties with --partition, --eucalyptus-conf), and from flags, later ones
            winning.

            Provisioning is plan, apply, rollback: `plan` shows exactly what would change in
            multipath.conf, iscsid.conf, the iface files and the udev rule, and why; `apply` writes it
            atomically with backups; `rollback` puts the files of the last apply back.

            Try it on the bundled example host (nothing outside it is touched):
              sanpath plan --root etc/examples/nc-host

            Exit codes: 0 done or nothing to do, 1 error, 2 (plan) changes pending.
            """),
        version: "0.1.0",
        subcommands: [
            RenderCommand.self, PlanCommand.self, ApplyCommand.self, RollbackCommand.self, StatusCommand.self, MonitorCommand.self,
            VolumeCommand.self,
            TraceCommand.self,
        ]
    )

    public init() {}

    /// Runs the command line and exits with the contract's exit code: 0 done, 1 error,
    /// 2 changes pending (plan); usage errors are errors (1), help is 0.
    public static func runMain() async {
        do {
            var command = try await asyncParseAsRoot(nil)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as SanpathError {
            Output(redactor: CommandContext.redactor).err("sanpath: \(error.description)")
            Foundation.exit(1)
        } catch let exit as ExitCode {
            // plan's "changes pending" (2) and other deliberate codes, nothing to print
            Foundation.exit(exit.rawValue)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }  // --help, --version
            let message = fullMessage(for: error)
            if !message.isEmpty { Output(redactor: CommandContext.redactor).err(message) }
            Foundation.exit(1)
        }
    }
}

/// Process-wide pieces every command shares.
enum CommandContext {
    /// Masks every secret in every output of this run.
    static let redactor = Redactor()

    /// Bootstraps logging once: stderr, warning level unless --verbose.
    static func logger(verbose: Bool) -> Logger {
        LoggingBootstrap.once(verbose: verbose)
        return Logger(label: "sanpath")
    }
}

/// swift-log may be bootstrapped only once per process.
enum LoggingBootstrap {
    nonisolated(unsafe) static var done = false

    /// The daemon's logging: one line per record on stderr, journal or JSON style.
    static func daemon(verbose: Bool) {
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            var handler = DaemonLogHandler(label: label)
            handler.logLevel = verbose ? .debug : .info
            return handler
        }
    }

    static func once(verbose: Bool) {
        guard !done else { return }
        done = true
        let level: Logger.Level = verbose ? .info : .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
