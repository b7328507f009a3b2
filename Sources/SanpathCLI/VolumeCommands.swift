import ArgumentParser
import Foundation
import Logging
import SanpathCore
import SanpathHost
import SanpathProfiles
import SanpathProvision
import SanpathSite
import SanpathSystem
import SanpathVolume

/// `sanpath volume`: attach, detach and list volumes on an NC host.
struct VolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Attach, detach and list iSCSI volumes over every path (the NC's half of Eucalyptus' volume flow).",
        discussion: HelpText.prose("""
            attach logs in on every path at once through the open-iscsi iface bound to each path's NIC
            (STORAGE_INTERFACES), scans exactly the volume's LUN on each session, waits for the
            multipath map by WWID (woken by udev events, every wait bounded) and prints the device.
            detach refuses a map that is in use and names who holds it, flushes the map, deletes its
            disks, runs --unexport, logs out of the sessions no other LUN uses, and checks that nothing
            is left for the WWID. list shows what is attached, from sysfs and udev alone.
            """),
        subcommands: [VolumeAttachCommand.self, VolumeDetachCommand.self, VolumeListCommand.self])
}

enum VolumeFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// The live host's volume boundaries.
enum LiveVolumeHost {
    static func make(logger: Logger) -> VolumeHost {
        let files = LocalFileSystem()
        // the same folder provisioning put the ifaces in (Debian 13: /var/lib/iscsi, with no
        // nodes/ until the first record)
        let database = Planner.iscsiDatabase(on: files)
        return VolumeHost(
            sysfs: SysfsReader(), files: files, runner: SubprocessRunner(), attributes: SysfsAttributeWriter(),
            events: NetlinkUdevSource(source: .udev, bufferLimit: 4096, logger: logger), iscsiDatabase: database, logger: logger)
    }

    /// A progress line per step on stderr when it is a terminal.
    static func progress(quiet: Bool) -> @Sendable (String) -> Void {
        guard !quiet, isatty(2) == 1 else { return { _ in } }
        return { line in FileHandle.standardError.write(Data("  \(line)\n".utf8)) }
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "{}"
    }
}

struct VolumeAttachCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Attach a volume over every path; print its multipath device.",
        discussion: HelpText.prose("""
            Give the volume as Eucalyptus' connect string (what ExportVolume returns:
            user,auth_mode,lun,encrypted_password,iface,ip,iqn[,iface,ip,iqn...]; the CHAP secret in it
            is decrypted with --node-key), or as --target, --lun and one --portal per path
            (iface0:192.0.2.2). A plaintext CHAP secret comes from --chap-secret-file (- for stdin),
            never from the command line; it goes into the node records (0600), never on an argv.

            The logical ifaces map to NICs by the site (STORAGE_INTERFACES or [interfaces]); the
            open-iscsi iface bound to that NIC is used, or created. Node records get node.startup =
            manual and node.session.scan = manual, so only the volume's LUN is ever scanned.

            Exit codes: 0 attached on every path, 3 attached degraded (the paths that failed are
            named, with why), 1 error (nothing usable attached).
            """))

    @OptionGroup var site: SiteOptions

    @Flag(name: .shortAndLong, help: "Log what happens (info level).")
    var verbose = false

    @Flag(name: .shortAndLong, help: "No progress lines on the terminal.")
    var quiet = false

    @Option(name: .customLong("connect-string"), help: ArgumentHelp("Eucalyptus' connect string.", valueName: "string"))
    var connectString: String?

    @Option(
        name: .customLong("node-key"),
        help: ArgumentHelp("The NC's private key, for the connect string's CHAP secret.", valueName: "file"))
    var nodeKey = "/var/lib/eucalyptus/keys/node-pk.pem"

    @Option(help: ArgumentHelp("Target IQN (without --connect-string).", valueName: "iqn"))
    var target: String?

    @Option(help: ArgumentHelp("LUN number (without --connect-string, or when it names none).", valueName: "n"))
    var lun: Int?

    @Option(
        name: .customLong("portal"),
        help: ArgumentHelp("A path: IFACE:ADDR[:PORT] or ADDR (repeat per path).", valueName: "iface:addr"))
    var portals: [String] = []

    @Option(name: .customLong("chap-user"), help: ArgumentHelp("CHAP user name.", valueName: "name"))
    var chapUser: String?

    @Option(name: .customLong("chap-secret-file"), help: ArgumentHelp("File holding the CHAP secret (- reads stdin).", valueName: "file"))
    var chapSecretFile: String?

    @Option(name: .customLong("login-timeout"), help: ArgumentHelp("Seconds one login may take.", valueName: "s"))
    var loginTimeout = 15

    @Option(name: .customLong("map-timeout"), help: ArgumentHelp("Seconds to wait for the disks and the map.", valueName: "s"))
    var mapTimeout = 30.0

    @Option(help: ArgumentHelp("Output format: text (the device path) or json.", valueName: "format"))
    var format: VolumeFormat = .text

    func validate() throws {
        guard (connectString == nil) != (target == nil) else {
            throw ValidationError("give --connect-string, or --target with --lun and --portal (not both)")
        }
        if target != nil {
            guard lun != nil else { throw ValidationError("--target needs --lun") }
            guard !portals.isEmpty else { throw ValidationError("--target needs at least one --portal IFACE:ADDR") }
        }
        guard (1...600).contains(loginTimeout) else { throw ValidationError("--login-timeout must be 1 to 600 seconds") }
        guard mapTimeout > 0, mapTimeout <= 600 else { throw ValidationError("--map-timeout must be in (0, 600] seconds") }
    }

    func run() async throws {
        let output = Output(redactor: CommandContext.redactor)
        let logger = CommandContext.logger(verbose: verbose)
        let host = LiveVolumeHost.make(logger: logger)
        let request = try await makeRequest(runner: host.runner)
        if let chap = request.chap { CommandContext.redactor.register(chap.password) }
        let attacher = VolumeAttacher(
            host: host, interfaces: try interfaces(), loginTimeout: loginTimeout, mapTimeout: mapTimeout,
            progress: LiveVolumeHost.progress(quiet: quiet))
        let result = try await attacher.attach(request)
        switch format {
        case .json: output.out(LiveVolumeHost.json(result))
        case .text:
            output.out(result.device)
            for path in result.paths where !path.up {
                output.err("sanpath: degraded: path \(path.iface ?? "default") -> \(path.portal) is down: \(path.reason ?? "?")")
            }
        }
        if result.degraded { throw ExitCode(3) }
    }

    /// The site's iface → NIC map: from the whole site when it loads, else from --interfaces or
    /// eucalyptus.conf alone (an NC that has no site file yet).
    func interfaces() throws -> [InterfaceBinding] {
        if let resolved = try? site.load(root: nil) { return resolved.interfaces }
        if let map = site.interfaces {
            return try SiteValues.parseInterfaces(map, what: "--interfaces", at: SourceLocation(source: "--interfaces"))
        }
        let conf = site.eucalyptusConf ?? "/etc/eucalyptus/eucalyptus.conf"
        guard let text = try? String(contentsOfFile: conf, encoding: .utf8) else { return [] }
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let match = line.firstMatch(of: /^\s*STORAGE_INTERFACES\s*=\s*"(.*)"/) else { continue }
            return try SiteValues.parseInterfaces(
                String(match.1), what: "STORAGE_INTERFACES", at: SourceLocation(source: conf, line: number + 1, column: 1))
        }
        return []
    }

    func makeRequest(runner: any CommandRunner) async throws -> VolumeRequest {
        var secret: String?
        if let chapSecretFile {
            let text =
                chapSecretFile == "-"
                ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                : try String(contentsOfFile: chapSecretFile, encoding: .utf8)
            secret = text.trimmingCharacters(in: .newlines)
        }
        if let connectString {
            let parsed = try ConnectString(connectString)
            CommandContext.redactor.register(parsed.encryptedPassword)
            guard let number = lun ?? parsed.lun else {
                throw SanpathError(.usage, "the connect string names no LUN; sanpath scans exactly one LUN: pass --lun")
            }
            var chap: CHAPCredentials?
            if let secret {
                chap = CHAPCredentials(username: chapUser ?? parsed.user, password: secret)
            } else if parsed.needsPassword {
                chap = CHAPCredentials(
                    username: chapUser ?? parsed.user,
                    password: try await NodeKey(path: nodeKey, runner: runner).decrypt(parsed.encryptedPassword))
            }
            return VolumeRequest(paths: parsed.paths, lun: number, chap: chap)
        }
        var paths: [VolumePath] = []
        for portal in portals {
            for path in try SiteValues.parsePaths(portal, what: "--portal", at: SourceLocation(source: "--portal")) {
                paths.append(VolumePath(iface: path.iface, portal: path.portal, target: target!))
            }
        }
        let chap = secret.map { CHAPCredentials(username: chapUser ?? "eucalyptus", password: $0) }
        return VolumeRequest(paths: paths, lun: lun!, chap: chap)
    }
}

struct VolumeDetachCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach",
        abstract: "Detach a volume: flush its map, delete its disks, log out what no other LUN uses, verify nothing is left.",
        discussion: HelpText.prose("""
            VOLUME is the device attach printed (/dev/disk/by-id/dm-uuid-mpath-WWID), /dev/mapper/NAME,
            a map name or the WWID. A map that is open (a VM, a mount, a process, a device stacked on it)
            is refused, naming the holder, unless --force: then queued I/O is failed first so the flush
            cannot hang. --unexport PROGRAM runs as PROGRAM WWID TARGET LUN (no shell) after the host
            has let go and before the logout, where Eucalyptus calls UnexportVolume.

            Exit codes: 0 detached and nothing left for the WWID, 1 error, refused, or leftovers (named).
            """))

    @Argument(help: ArgumentHelp("The volume: its device, map name or WWID.", valueName: "volume"))
    var volume: String

    @Flag(help: "Detach an open map: fail its queued I/O first.")
    var force = false

    @Option(help: ArgumentHelp("Program to run where Eucalyptus calls UnexportVolume (argv: WWID TARGET LUN).", valueName: "program"))
    var unexport: String?

    @Option(help: ArgumentHelp("Output format: text or json.", valueName: "format"))
    var format: VolumeFormat = .text

    @Flag(name: .shortAndLong, help: "Log what happens (info level).")
    var verbose = false

    func run() async throws {
        let output = Output(redactor: CommandContext.redactor)
        let logger = CommandContext.logger(verbose: verbose)
        let detacher = VolumeDetacher(
            host: LiveVolumeHost.make(logger: logger), force: force, unexport: unexport, progress: LiveVolumeHost.progress(quiet: false))
        let result = try await detacher.detach(volume)
        switch format {
        case .json: output.out(LiveVolumeHost.json(result))
        case .text:
            output.out("detached \(result.wwid)\(result.map.map { " (\($0))" } ?? ""): disks \(result.removedDisks.joined(separator: ", "))")
            for session in result.loggedOut { output.out("logged out: \(session)") }
            for session in result.keptSessions { output.out("kept (another LUN uses it): \(session)") }
            if result.leftovers.isEmpty { output.out("nothing is left for \(result.wwid)") }
        }
        guard result.leftovers.isEmpty else {
            output.err("sanpath: still there for \(result.wwid): \(result.leftovers.joined(separator: ", "))")
            throw ExitCode(1)
        }
    }
}

struct VolumeListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List attached volumes: WWID, map, paths with session, portal, iface and NIC, holders.",
        discussion: HelpText.prose("""
            Reads sysfs, udev's device links and /proc only (no multipath or iscsiadm call).
            --root DIR reads a captured host: DIR/sys, DIR/dev, DIR/proc.
            """))

    @Option(help: ArgumentHelp("Output format: text or json.", valueName: "format"))
    var format: VolumeFormat = .text

    @Option(help: ArgumentHelp("Read a captured host under DIR instead of this one.", valueName: "dir"))
    var root: String?

    func run() async throws {
        let output = Output(redactor: CommandContext.redactor)
        let logger = CommandContext.logger(verbose: false)
        var host = LiveVolumeHost.make(logger: logger)
        if let root {
            host.sysfs = SysfsReader(root: "\(root)/sys")
            host.devRoot = "\(root)/dev"
            host.procRoot = "\(root)/proc"
            host.udevData = "\(root)/run/udev/data"
        }
        let volumes = VolumeLister(host: host).volumes()
        switch format {
        case .json: output.out(LiveVolumeHost.json(volumes))
        case .text:
            guard !volumes.isEmpty else { return output.out("no multipath volume is attached") }
            for volume in volumes {
                let up = volume.paths.filter { $0.state == "running" && $0.sessionState == "LOGGED_IN" }.count
                output.out("\(volume.map) \(volume.wwid) \(volume.dm) \(up)/\(volume.paths.count) paths up")
                for path in volume.paths {
                    output.out(
                        "  \(path.disk) \(path.hctl ?? "?") \(path.state) session \(path.session.map(String.init) ?? "-") \(path.portal ?? "?") via \(path.iface ?? "default")/\(path.nic ?? "-") \(path.sessionState ?? "")")
                }
                for holder in volume.holders { output.out("  held: \(holder)") }
            }
        }
    }
}
