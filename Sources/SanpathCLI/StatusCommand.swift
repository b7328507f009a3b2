import ArgumentParser
import Foundation
import Logging
import SanpathCore
import SanpathHealth
import SanpathHost
import SanpathProfiles
import SanpathSite
import SanpathSystem

/// `--format` for status.
enum StatusFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, nagios
}

/// `sanpath status`: one look at every map, path, session, iface and SAN host.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show path health once: maps and their paths with NIC and portal, sessions, ifaces, SAN hosts, findings.",
        discussion: HelpText.prose("""
            Reads device-mapper (libdevmapper), sysfs, the open-iscsi iface files and multipathd's socket,
            probes each SAN management host once, and judges it all against the site: a lost path, a
            degraded map, a map with no path, an iface bound to the wrong NIC, an unreachable SAN host…

            --format nagios prints one Nagios/Icinga status line with perfdata per map and exits
            0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. A map with fewer valid paths than --min-paths
            (default 1) is CRITICAL; fewer than --ok-paths (default: the site's path count) WARNING.

            --root DIR reads a captured host instead of this one: DIR/sys (a sysfs copy),
            DIR/etc/iscsi/ifaces, DIR/dmsetup-status.txt and DIR/dmsetup-table.txt, and
            DIR/multipathd-show-maps.json when present (the layout Tests/Lab/capture-fixtures writes).
            SAN hosts are not probed then.

            Exit codes (text, json): 0 when sanpath could look, 1 when it could not.
            """))

    @OptionGroup var site: SiteOptions
    @OptionGroup var common: CommonOptions

    @Option(help: ArgumentHelp("Read a captured host under DIR instead of this one.", valueName: "dir"))
    var root: String?

    @Option(help: ArgumentHelp("Output format: text, json or nagios.", valueName: "format"))
    var format: StatusFormat = .text

    @Option(name: .customLong("min-paths"), help: ArgumentHelp("Nagios: CRITICAL below this many valid paths per map.", valueName: "n"))
    var minPaths = 1

    @Option(name: .customLong("ok-paths"), help: ArgumentHelp("Nagios: WARNING below this many (default: the site's paths).", valueName: "n"))
    var okPaths: Int?

    @Option(name: .customLong("probe-timeout"), help: ArgumentHelp("Seconds to wait for each SAN host.", valueName: "s"))
    var probeTimeout = 2.0

    @Flag(name: .customLong("no-probe"), help: "Do not probe the SAN management hosts.")
    var noProbe = false

    func validate() throws {
        guard minPaths >= 0 else { throw ValidationError("--min-paths must be 0 or more") }
        if let okPaths, okPaths < minPaths { throw ValidationError("--ok-paths must not be below --min-paths") }
        guard probeTimeout > 0, probeTimeout <= 60 else { throw ValidationError("--probe-timeout must be in (0, 60] seconds") }
    }

    func run() async throws {
        let output = Output(redactor: CommandContext.redactor)
        let logger = CommandContext.logger(verbose: common.verbose)
        do {
            let resolved = try site.load(root: root)
            let model = HealthModel(
                site: resolved, portalAddresses: AddressResolver.addresses(ofNames: resolved.paths.map(\.portal.host)))
            var snapshot = try await collect(logger: logger)
            if root == nil, !noProbe, !resolved.sanHosts.isEmpty {
                let port = (try? common.profiles().metadata(for: resolved.vendor).managementPort) ?? 443
                snapshot.sanHosts = await probe(resolved.sanHostsInEucalyptusOrder, defaultPort: port, logger: logger)
            }
            let findings = model.findings(snapshot)
            let report = StatusReport(model: model, snapshot: snapshot, findings: findings)
            switch format {
            case .text:
                let topology = report.topology(color: common.useColor(), siteSANHosts: resolved.sanHostsInEucalyptusOrder.map(\.host))
                output.out(report.table(color: common.useColor()) + "\n" + topology)
            case .json: output.out(report.json())
            case .nagios:
                let nagios = NagiosReport(report, thresholds: .init(minPaths: minPaths, okPaths: okPaths))
                output.out(nagios.output)
                throw ExitCode(nagios.exitCode)
            }
        } catch let error as SanpathError where format == .nagios {
            output.out(NagiosReport.unknown(error.message).output)
            throw ExitCode(3)
        } catch let error as ExitCode {
            throw error
        } catch where format == .nagios {
            output.out(NagiosReport.unknown("\(error)").output)
            throw ExitCode(3)
        }
    }

    func collect(logger: Logger) async throws -> Snapshot {
        guard let root else {
            let collector = SnapshotCollector(
                deviceMapper: LibDevmapper(logger: logger), multipathd: MultipathdSocket(), logger: logger)
            return try await collector.collect()
        }
        let base = URL(fileURLWithPath: root)
        func text(_ name: String) -> String? { try? String(contentsOf: base.appendingPathComponent(name), encoding: .utf8) }
        guard let status = text("dmsetup-status.txt"), let table = text("dmsetup-table.txt") else {
            throw SanpathError(
                .usage, "--root \(root): no captured dmsetup-status.txt and dmsetup-table.txt (status cannot read a kernel under a root)")
        }
        let sysfs = SysfsReader(root: base.appendingPathComponent("sys").path)
        let multipathd = try CapturedMultipathd.captured(pathsReply: text("multipathd-show-paths.txt"), mapsJSON: text("multipathd-show-maps.json"))
        let collector = SnapshotCollector(
            deviceMapper: CapturedDeviceMapper(dmsetupStatus: status, dmsetupTable: table, sysfs: sysfs), sysfs: sysfs,
            ifaceFiles: IfaceFilesReader(root: root), multipathd: multipathd, logger: logger)
        return try await collector.collect()
    }

    /// Probes every SAN host at once.
    func probe(_ hosts: [SANHost], defaultPort: Int, logger: Logger) async -> [SANHostState] {
        let prober = TCPProber(logger: logger)
        let timeout = probeTimeout
        return await withTaskGroup(of: (Int, SANHostState).self) { group in
            for (index, host) in hosts.enumerated() {
                group.addTask {
                    var state = SANHostState(host: host.host, port: host.port ?? defaultPort)
                    let latency = await prober.connect(host: host.host, port: state.port, timeout: timeout, device: nil)
                    state.record(latency: latency, at: Date())
                    // one look: a single failure is the verdict
                    if latency == nil { state.consecutiveFailures = max(state.consecutiveFailures, 2) }
                    return (index, state)
                }
            }
            var states: [(Int, SANHostState)] = []
            for await result in group { states.append(result) }
            return states.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
