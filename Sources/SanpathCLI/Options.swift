import ArgumentParser
import Foundation
import SanpathConfig
import SanpathCore
import SanpathHost
import SanpathProfiles
import SanpathProvision
import SanpathSite

/// The site options every verb that needs a site takes (DESIGN.md "The site").
struct SiteOptions: ParsableArguments {
    @Option(
        name: .customLong("site"),
        help: ArgumentHelp(
            "Site file (TOML).", discussion: "Default: /etc/sanpath/site.toml (under --root), read when it exists.",
            valueName: "file"))
    var siteFile: String?

    @Option(
        help: ArgumentHelp(
            "Output of `euca-describe-properties --verbose`.",
            discussion: "Lines PROPERTY<TAB>PARTI00.storage.ncpaths<TAB>value; supplies ncpaths/scpaths, sanhost and blockstoragemanager.",
            valueName: "file"))
    var properties: String?

    @Option(help: ArgumentHelp("Partition to read from --properties (needed when it has several).", valueName: "name"))
    var partition: String?

    @Option(
        name: .customLong("eucalyptus-conf"),
        help: ArgumentHelp("eucalyptus.conf holding STORAGE_INTERFACES=\"iface0=br0,iface1=eth1\".", valueName: "file"))
    var eucalyptusConf: String?

    @Option(help: ArgumentHelp("Array family: equallogic, netapp or vnx.", valueName: "vendor"))
    var vendor: String?

    @Option(help: ArgumentHelp("Host role: nc (Node Controller) or sc (Storage Controller).", valueName: "role"))
    var role: String?

    @Option(
        help: ArgumentHelp(
            "iSCSI paths, Eucalyptus syntax: addr,addr or iface0:addr,iface1:addr (addr[:port], [IPv6]).",
            valueName: "paths"))
    var paths: String?

    @Option(help: ArgumentHelp("SAN management hosts, a comma list (failover order as Eucalyptus sorts it).", valueName: "hosts"))
    var sanhost: String?

    @Option(help: ArgumentHelp("iface-to-NIC map, STORAGE_INTERFACES syntax: iface0=br0,iface1=eth1.", valueName: "map"))
    var interfaces: String?

    /// Reads every source and resolves the site. Paths given by flag are used as given; the
    /// default site file, and files the site file names, resolve under `root`.
    func load(root: String?) throws(SanpathError) -> Site {
        let fs = LocalFileSystem(root: root)
        let inputs = SiteInputs(
            siteFile: siteFile, defaultSiteFile: fs.resolve("/etc/sanpath/site.toml"), properties: properties,
            partition: partition, eucalyptusConf: eucalyptusConf,
            flags: SiteFlags(vendor: vendor, role: role, paths: paths, sanhost: sanhost, interfaces: interfaces))
        return try inputs.load(
            read: { (path) throws(SanpathError) -> String? in
                guard let bytes = try LocalFileSystem().read(path) else { return nil }
                return try TextLines(bytes: bytes, source: path).joined
            },
            resolveNamed: { named, siteFile in
                if named.hasPrefix("/") { return fs.resolve(named) }
                return URL(fileURLWithPath: siteFile).deletingLastPathComponent().appendingPathComponent(named).path
            })
    }
}

/// Options about where templates are and how output looks.
struct CommonOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Templates directory (default: found next to the binary or in the source tree).", valueName: "dir"))
    var templates: String?

    @Option(help: ArgumentHelp("Colour the diff: auto, always or never.", valueName: "when"))
    var color: ColorChoice = .auto

    @Option(
        name: .customLong("multipath-version"),
        help: ArgumentHelp(
            "multipath-tools release whose rules to apply, e.g. 0.9.4 (Debian 12) or 0.11.1 (Debian 13).",
            discussion: "Default: read from the installed `multipath`, else 0.9.4 (Debian 12). The plan says which it used.",
            valueName: "x.y.z"))
    var multipathVersion: String?

    @Flag(name: .shortAndLong, help: "Log what sanpath does to stderr.")
    var verbose = false

    func profiles() throws(SanpathError) -> ProfileLibrary {
        let directory = try TemplateLocator.find(
            explicit: templates, executable: CommandLine.arguments[0], workingDirectory: FileManager.default.currentDirectoryPath)
        return try ProfileLibrary(directory: directory)
    }

    func useColor() -> Bool {
        switch color {
        case .always: return true
        case .never: return false
        case .auto:
            let env = ProcessInfo.processInfo.environment
            return isatty(STDOUT_FILENO) == 1 && env["NO_COLOR"] == nil && env["TERM"] != "dumb"
        }
    }

    func version(runner: any CommandRunner) async -> MultipathToolsVersion {
        (try? await versionChoice(runner: runner))?.version ?? .debian12
    }

    /// The release whose rules apply and where it came from: the flag, else the installed
    /// `multipath`, else Debian 12's 0.9.4. A flag that is no version is an error.
    func versionChoice(runner: any CommandRunner) async throws(SanpathError) -> (version: MultipathToolsVersion, origin: MultipathVersionOrigin) {
        if let multipathVersion {
            guard let parsed = MultipathToolsVersion(parsing: multipathVersion) else {
                throw SanpathError(.usage, "--multipath-version \(multipathVersion) is not a release (x.y.z, e.g. 0.11.1)")
            }
            return (parsed, .flag)
        }
        // `multipath -h` prints "multipath-tools v0.9.4 (12/19, 2022)" first
        if let result = try? await runner.run(["multipath", "-h"], timeoutSeconds: 5),
            let parsed = MultipathToolsVersion(parsing: result.stderr + result.stdout)
        {
            return (parsed, .installed)
        }
        return (.debian12, .fallback)
    }
}

/// `--color`.
enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never
}

/// `--format` for plan.
enum PlanFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Writes to stdout and stderr through the run's redactor.
struct Output: Sendable {
    let redactor: Redactor

    func out(_ text: String) {
        FileHandle.standardOutput.write(Data((redactor.redact(text) + (text.hasSuffix("\n") ? "" : "\n")).utf8))
    }

    func err(_ text: String) {
        FileHandle.standardError.write(Data((redactor.redact(text) + (text.hasSuffix("\n") ? "" : "\n")).utf8))
    }
}
