import ArgumentParser
import Foundation
import SanpathConfig
import SanpathCore
import SanpathHost
import SanpathProfiles
import SanpathProvision
import SanpathSite

/// `sanpath render`: the files the profile wants, before any merge.
struct RenderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Render every managed file for the site, without looking at the host's files.",
        discussion: HelpText.prose("""
            Without --out the files are printed, each after a `==> path <==` line (CHAP secrets masked).
            With --out DIR they are written as they would sit under a root: DIR/etc/multipath.conf,
            DIR/etc/iscsi/iscsid.conf, DIR/etc/iscsi/ifaces/<iface>, DIR/etc/udev/rules.d/NN-dm-permissions.rules
            (12- after RHEL's 10-dm.rules, 57- after Debian's 55-dm.rules: read from this host).
            Existing files under DIR are replaced. To change a host, use plan and apply: they merge.
            """))

    @OptionGroup var site: SiteOptions
    @OptionGroup var common: CommonOptions

    @Option(help: ArgumentHelp("Write the files under this directory instead of printing them.", valueName: "dir"))
    var out: String?

    func run() async throws {
        let output = Output(redactor: CommandContext.redactor)
        let resolved = try site.load(root: nil)
        if let chap = resolved.chap { CommandContext.redactor.register(chap.password) }
        let files = try common.profiles().render(resolved, udevRules: UdevRules.order(on: LocalFileSystem()))
        guard let out else {
            for file in files {
                let text =
                    file.kind == .iscsidConf
                    ? TextLines(splitting: file.text).lines.map { ISCSIConf.redactedLine($0.text) }.joined(separator: "\n") + "\n"
                    : file.text
                output.out("==> \(file.path) <==\n\(text)")
            }
            return
        }
        let fs = LocalFileSystem(root: out)
        for file in files {
            // iscsid.conf may hold a CHAP secret; iface files are 0600 as iscsiadm makes them
            let secret = file.kind == .iscsidConf && resolved.chap != nil
            let mode: UInt32 =
                if case .iface = file.kind { 0o600 } else { secret ? 0o600 : 0o644 }
            try fs.write(file.path, Array(file.text.utf8), info: FileInfo(mode: mode, uid: getuid(), gid: getgid()))
            output.out("wrote \(fs.resolve(file.path))")
        }
    }
}

/// `sanpath plan`.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what apply would change on this host, and why. Writes nothing.",
        discussion: HelpText.prose("""
            Reads multipath.conf, iscsid.conf, the iface files and the udev rule, merges the profile into
            them (keeping everything it does not manage, byte for byte) and prints each change with its
            reason and a unified diff. A file that does not parse stops the plan with file:line:col.

            Exit codes: 0 the host already matches, 2 changes pending, 1 error.
            --format json prints {"changed": true|false, "files": [{"path", "changes": [{"section", "key",
            "old", "new", "reason", "line"}], "diff"}], "staleNodeRecords": [...]} for scripts and Ansible.
            """))

    @OptionGroup var site: SiteOptions
    @OptionGroup var common: CommonOptions

    @Option(help: ArgumentHelp("Treat DIR as the host's root: read DIR/etc/multipath.conf and so on.", valueName: "dir"))
    var root: String?

    @Option(help: ArgumentHelp("Output format: text or json.", valueName: "format"))
    var format: PlanFormat = .text

    func run() async throws {
        let output = Output(redactor: CommandContext.redactor)
        do {
            let applier = Applier(
                fileSystem: LocalFileSystem(root: root), runner: SubprocessRunner(), liveHost: false,
                logger: CommandContext.logger(verbose: common.verbose))
            if let interrupted = try applier.records().last(where: { $0.status == .inProgress }) {
                output.err(
                    "warning: apply \(interrupted.id) was interrupted; this plan reads the files as it left them, and the next apply or rollback puts them back first")
            }
            let plan = try await makePlan(site: site, common: common, root: root)
            switch format {
            case .text: output.out(PlanReport.text(plan, color: common.useColor(), redactor: CommandContext.redactor))
            case .json: output.out(PlanReport.json(plan, redactor: CommandContext.redactor))
            }
            if plan.changed { throw ExitCode(2) }
        } catch let error as SanpathError {
            if format == .json { output.out(PlanReport.jsonError(error)) }
            throw error
        }
    }
}

/// Plans for the site under an optional root.
func makePlan(site: SiteOptions, common: CommonOptions, root: String?) async throws(SanpathError) -> Plan {
    _ = CommandContext.logger(verbose: common.verbose)
    // the installed `multipath -h` is asked while the site and the templates load
    async let choice: Result<(MultipathToolsVersion, MultipathVersionOrigin), SanpathError> = {
        do throws(SanpathError) {
            return .success(try await common.versionChoice(runner: SubprocessRunner()))
        } catch {
            return .failure(error)
        }
    }()
    let resolved = try site.load(root: root)
    let profiles = Result { () throws(SanpathError) in try common.profiles() }
    let (version, origin) = try await choice.get()
    let planner = Planner(
        fileSystem: LocalFileSystem(root: root), profiles: try profiles.get(), multipathVersion: version,
        redactor: CommandContext.redactor)
    var plan = try planner.plan(resolved)
    plan.multipathVersionOrigin = origin
    return plan
}

/// `sanpath apply`.
struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Write what plan shows: atomically, owner and mode kept, with a backup for rollback.",
        discussion: HelpText.prose("""
            Plans again, then writes each changed file through a temp file in the same folder (fsync,
            rename, fsync of the folder) after copying the old one to /var/lib/sanpath/backups/<id>/;
            if a write fails, the files already written are put back. Before it writes, it checks each
            file system has room for the record, the backups and the temp copies. The record is written
            first, marked in-progress: an apply killed halfway (kill -9, power) leaves each file whole,
            old or new, and the next apply or rollback first puts back what it had written. Then, on a live host,
            `multipathd reconfigure` when multipathd runs, and for the rule `udevadm control --reload`,
            `udevadm trigger --action=change` of the multipath maps and `udevadm settle`.

            apply never restarts iscsid and never logs out a session. open-iscsi copies iscsid.conf into
            node records only when it creates them: apply lists the records that keep old values, and
            --update-node-records brings them in line with `iscsiadm -m node -o update`.

            Exit codes: 0 applied or nothing to do, 1 error: nothing written, or written but a reload
            failed (the new settings are on disk, not live: the message says how to retry, and
            `sanpath rollback` undoes the apply).
            """))

    @OptionGroup var site: SiteOptions
    @OptionGroup var common: CommonOptions

    @Option(help: ArgumentHelp("Treat DIR as the host's root; implies --no-reload.", valueName: "dir"))
    var root: String?

    @Flag(name: .customLong("no-reload"), help: "Do not run multipathd reconfigure or reload udev rules.")
    var noReload = false

    @Flag(
        name: .customLong("update-node-records"),
        help: "Also update existing node records to the new iscsid.conf values (iscsiadm -o update; sessions stay).")
    var updateNodeRecords = false

    func run() async throws {
        let output = Output(redactor: CommandContext.redactor)
        let logger = CommandContext.logger(verbose: common.verbose)
        let applier = Applier(
            fileSystem: LocalFileSystem(root: root), runner: SubprocessRunner(), liveHost: root == nil && !noReload,
            logger: logger)
        // an apply killed halfway is undone before planning, so the plan reads a whole host
        for record in try applier.recoverInterrupted() {
            output.out("Apply \(record.id) was interrupted: the files it had written are put back first.")
        }
        let plan = try await makePlan(site: site, common: common, root: root)
        output.out(PlanReport.text(plan, color: common.useColor(), redactor: CommandContext.redactor))
        let outcome = try await applier.apply(plan, updateNodeRecords: updateNodeRecords)
        guard let record = outcome.record else {
            output.out("Nothing to apply.")
            return
        }
        output.out("Applied \(record.files.count) file(s); apply record \(record.id) (`sanpath rollback` undoes it).")
        for action in outcome.actions { output.out("  \(action)") }
        if !outcome.updatedNodeRecords.isEmpty {
            output.out("Updated \(outcome.updatedNodeRecords.count) node record(s).")
        } else if !plan.staleNodeRecords.isEmpty {
            output.out("\(plan.staleNodeRecords.count) node record(s) keep old values: run apply --update-node-records.")
        }
        try reloadFailed(outcome.failures, output: output)
    }
}

/// `sanpath rollback`.
struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Restore the files of the last apply, byte for byte (files it created are removed).",
        discussion: HelpText.prose("""
            Each rollback undoes one apply, newest first. It refuses when a file was edited after that
            apply (those edits would be lost) unless --force.

            Exit codes: 0 rolled back, 1 error, or rolled back but a reload failed (the old files are
            on disk, not live: the message says how to retry).
            """))

    @Option(help: ArgumentHelp("Treat DIR as the host's root; implies --no-reload.", valueName: "dir"))
    var root: String?

    @Flag(name: .customLong("no-reload"), help: "Do not run multipathd reconfigure or reload udev rules.")
    var noReload = false

    @Flag(help: "Roll back even if a file was edited after the apply.")
    var force = false

    @Flag(name: .shortAndLong, help: "Log what sanpath does to stderr.")
    var verbose = false

    func run() async throws {
        let output = Output(redactor: CommandContext.redactor)
        let applier = Applier(
            fileSystem: LocalFileSystem(root: root), runner: SubprocessRunner(), liveHost: root == nil && !noReload,
            logger: CommandContext.logger(verbose: verbose))
        let outcome = try await applier.rollback(force: force)
        let interrupted = outcome.record.note == "interrupted" ? ", which was interrupted" : ""
        output.out("Rolled back apply \(outcome.record.id) (\(outcome.record.profile)\(interrupted)):")
        for file in outcome.record.files {
            output.out("  \(LocalFileSystem(root: root).resolve(file.path)): \(file.existed ? "restored" : "removed (apply created it)")")
        }
        for action in outcome.actions { output.out("  \(action)") }
        try reloadFailed(outcome.failures, output: output)
    }
}

/// The files are written but a reload failed: each failure on stderr, and exit 1.
func reloadFailed(_ failures: [String], output: Output) throws {
    guard !failures.isEmpty else { return }
    for failure in failures { output.err("error: \(failure)") }
    throw ExitCode(1)
}
