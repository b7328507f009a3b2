import ArgumentParser
import Foundation
import SanpathCore
import SanpathTrace
import SanpathTraceLogs

/// `--format` for trace.
enum TraceFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// `sanpath trace`: where a volume's attach, detach or delete stopped, and why.
struct TraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Trace a volume or an instance through the SC, CLC and NC logs: where its attach, detach or delete stopped, and why.",
        discussion: HelpText.prose("""
            Does what an admin does by hand: grep the SC's and the CLC's cloud-output.log and the NC's nc.log
            for the volume, put the lines in the order of the flow, see which hop is missing, and match it
            to a known cause. The hops, from the SC's side:

              attach   GetVolumeToken (CLC → SC), doAttachVolume (NC), ExportVolume (NC → SC on 8773), iSCSI device (NC)
              detach   doDetachVolume, iSCSI disconnect (NC), UnexportVolume (NC → SC), detached (NC)
              delete   DeleteStorageVolume, the SC's export check (every minute), cleanup
              create   CreateStorageVolume (an EBS-backed instance run starts with it)

            Each hop is shown with the line that proves it (file:line and time), then the first hop missing
            or failed, the cause it matches and what to check next. Both layouts of each log are read (they
            follow the configured level: INFO, or DEBUG with thread and logger columns), rotated files too
            (nc.log.0, cloud-output.log.1, any .N.gz), in time order across hosts; stack traces and lines of
            other shapes are skipped. Hosts' clocks must agree.

            --logs takes a folder (searched three levels deep; each sub-folder is a host, e.g. sc1/, sc2/,
            clc/, nc07/) or a file (its rotations beside it are read too); repeat it. Default:
            /var/log/eucalyptus. On an HA pair, pass both SCs' (or CLCs') logs: the one that answered the
            requests is the one that was ENABLED then.

            An instance id needs saved `euca-describe-instances` output (--instances FILE): its BLOCKDEVICE
            lines give the volumes.

            Examples:
              sanpath trace vol-1A2B3C4D --logs /srv/euca-logs
              sanpath trace i-2B2B2B2B --instances described.txt --logs sc/ --logs nc07/nc.log
              sanpath trace vol-1A2B3C4D --logs /srv/euca-logs --format json

            Exit codes: 0 the id was found in the logs (whether or not a problem was), 1 no line mentions it,
            or an error.
            """))

    @Argument(help: ArgumentHelp("A volume id (vol-…) or an instance id (i-…, needs --instances).", valueName: "id"))
    var id: String

    @Option(name: .customLong("logs"), help: ArgumentHelp("A log folder or file; repeat it. Default: /var/log/eucalyptus.", valueName: "dir|file"))
    var logs: [String] = []

    @Option(help: ArgumentHelp("Saved euca-describe-instances output, for an instance id.", valueName: "file"))
    var instances: String?

    @Option(help: ArgumentHelp("Output format: text or json.", valueName: "format"))
    var format: TraceFormat = .text

    func validate() throws {
        if id.hasPrefix("i-"), instances == nil {
            throw ValidationError("\(id) is an instance: pass its saved euca-describe-instances output with --instances FILE")
        }
    }

    func run() async throws {
        let output = Output(redactor: CommandContext.redactor)
        var listing: InstancesListing?
        if let instances {
            guard let text = try? String(contentsOfFile: instances, encoding: .utf8) else {
                throw SanpathError(.io, "--instances \(instances): cannot read it")
            }
            listing = InstancesListing(text: text)
        }
        let subject = try TraceSubject.parse(id, instances: listing)
        let source = LocalLogSource()
        let paths = logs.isEmpty ? ["/var/log/eucalyptus"] : logs
        let files = try source.files(at: paths)
        let traces = try Tracer(source: source).trace(subject, logs: paths)
        // the live half: what this host still has for the volume's target and LUN (sysfs, open-iscsi)
        let lookup: any VolumeConnectionsLookup =
            FileManager.default.fileExists(atPath: "/sys/class/iscsi_session")
            ? VolumeHostLookup(host: LiveVolumeHost.make(logger: CommandContext.logger(verbose: false)))
            : UnavailableConnectionsLookup(reason: "this host has no iSCSI initiator (no /sys/class/iscsi_session): run trace on the NC to see what it still has connected")
        var live: [String: LiveView] = [:]
        for trace in traces {
            if let target = trace.target {
                live[trace.volume] = await lookup.connections(target: target, lun: trace.lun)
            } else {
                live[trace.volume] = .unavailable(
                    "the logs do not name \(trace.volume)'s target; the SC logs it at DEBUG: 'Exporting \(trace.volume) as target: …'")
            }
        }
        let report = TraceReport(id: id, volumes: traces, live: live, filesRead: files.count)
        switch format {
        case .text: output.out(report.text())
        case .json: output.out(report.json())
        }
    }
}
