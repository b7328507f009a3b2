import Foundation
import SanpathConfig
import SanpathCore
import SanpathHealth
import SanpathHost
import SanpathProvision
import SanpathSite

/// One path of an attached volume, as the result reports it.
public struct AttachedPath: Sendable, Hashable, Codable {
    /// Logical iface (`iface0`), nil for the default route.
    public var iface: String?
    /// The open-iscsi iface used.
    public var openISCSIIface: String
    /// The NIC.
    public var nic: String?
    /// `address:port`.
    public var portal: String
    /// Target IQN.
    public var target: String
    /// The session (`sessionN`'s N), when logged in.
    public var session: Int?
    /// The SCSI disk of the LUN on that session (`sdc`).
    public var disk: String?
    /// Whether this path carries the volume.
    public var up: Bool
    /// Why not, when down.
    public var reason: String?
}

/// How one path's bring-up ended: its session and SCSI host, or why not.
struct PathOutcomeReport: Sendable {
    var index: Int
    var session: ISCSISession?
    var host: Int?
    var failure: String?
}

/// What `volume attach` gives back.
public struct AttachResult: Sendable, Hashable, Codable {
    /// `/dev/disk/by-id/dm-uuid-mpath-<wwid>`.
    public var device: String
    /// The volume's WWID (udev's ID_SERIAL, the map's uuid without `mpath-`).
    public var wwid: String
    /// dm name (`mpatha`).
    public var map: String
    /// Kernel name of the map (`dm-3`).
    public var dm: String
    /// Every path asked for, up or not.
    public var paths: [AttachedPath]

    /// Whether some path asked for does not carry the volume.
    public var degraded: Bool { paths.contains { !$0.up } }
}

/// Attaches a volume on every path: logins in parallel, an exact LUN scan per session, the map
/// found by WWID through sysfs and udev, each wait bounded and woken by udev events.
public struct VolumeAttacher: Sendable {
    /// The host.
    public var host: VolumeHost
    /// The site's logical iface → NIC map.
    public var interfaces: [InterfaceBinding]
    /// Seconds a login may take (written into the node record and bounding iscsiadm).
    public var loginTimeout: Int
    /// Seconds to wait for the disks and the map after the scans.
    public var mapTimeout: Double
    /// Seconds a path's disk may lag behind the first one before that path counts as down.
    public var pathGrace: Double = 5
    /// One line per path and step, for a terminal.
    public var progress: @Sendable (String) -> Void

    /// Creates an attacher.
    public init(
        host: VolumeHost, interfaces: [InterfaceBinding], loginTimeout: Int = 15, mapTimeout: Double = 30,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.host = host
        self.interfaces = interfaces
        self.loginTimeout = loginTimeout
        self.mapTimeout = mapTimeout
        self.progress = progress
    }

    /// Attaches. Throws when no path carries the LUN or the map does not form; a partial attach is
    /// a result with `degraded` set.
    public func attach(_ request: VolumeRequest) async throws(SanpathError) -> AttachResult {
        var addresses: [String: [String]] = [:]
        for path in request.paths where addresses[path.portal.host] == nil {
            let resolved = AddressResolver.addresses(of: path.portal.host)
            guard !resolved.isEmpty else {
                throw SanpathError(.invalidSite, "portal host '\(path.portal.host)' of path \(path) does not resolve")
            }
            addresses[path.portal.host] = resolved
        }
        let waker = host.listen()
        defer { waker.stop() }
        let steps = try VolumeDecisions.attachSteps(
            for: request, interfaces: interfaces, ifaces: try host.ifaces(), sessions: host.sysfs.sessions(), addresses: addresses)

        // ifaces first, one after another: two paths may share a new one
        for step in steps where step.createIface {
            guard let nic = step.nic else { continue }
            try await iscsiadm(["-m", "iface", "-I", step.iface, "-o", "new"], what: "create iface \(step.iface)")
            try await iscsiadm(
                ["-m", "iface", "-I", step.iface, "-o", "update", "-n", "iface.net_ifacename", "-v", nic],
                what: "bind iface \(step.iface) to \(nic)")
            progress("\(step.iface): created, bound to \(nic)")
        }

        // each path on its own, all at once: login (bounded) when needed, then exactly the LUN on
        // its session's host; a failed login leaves that path down, not the attach, and a path
        // that is up is scanned while a slow one is still timing out
        var outcomes: [Int: PathOutcomeReport] = [:]
        let resolved = addresses
        await withTaskGroup(of: PathOutcomeReport.self) { group in
            for (index, step) in steps.enumerated() {
                let portal = PortalAddress(host: resolved[step.path.portal.host]![0], port: step.path.portal.port)
                group.addTask {
                    await self.bringUp(step, index: index, portal: portal, request: request, addresses: resolved, waker: waker)
                }
            }
            for await outcome in group { outcomes[outcome.index] = outcome }
        }
        var loginFailures: [Int: String] = [:]
        var sessionOf: [Int: ISCSISession] = [:]
        // the SCSI host of each path that is up; a path without one is down, with the reason
        var hosts: [Int: Int] = [:]
        for (index, outcome) in outcomes {
            sessionOf[index] = outcome.session
            guard outcome.failure == nil, let number = outcome.host else {
                loginFailures[index] = outcome.failure ?? "session \(outcome.session?.id ?? 0) has no SCSI host in sysfs"
                continue
            }
            hosts[index] = number
        }

        // the disks and their WWIDs, then the one map that holds them all
        struct Found: Sendable { var disks: [Int: String]; var wwid: String; var device: String }
        let wanted = Array(hosts.keys)
        let lun = request.lun
        let clock = ContinuousClock()
        let start = clock.now
        // every path's disk with its WWID from udev; once one is there, the others get `pathGrace`
        // more (a session that went silent before its failure was noticed never shows the LUN)
        func present() -> [Int: String] {
            var disks: [Int: String] = [:]
            for index in wanted {
                if let number = hosts[index], let disk = host.disk(host: number, lun: lun), host.udevSerial(of: disk) != nil {
                    disks[index] = disk
                }
            }
            return disks
        }
        var disks = await waker.wait(upTo: mapTimeout) { () -> [Int: String]? in
            let found = present()
            return found.isEmpty ? nil : found
        }
        if let some = disks, some.count < wanted.count {
            let grace = min(pathGrace, max(0.5, mapTimeout - Double((clock.now - start).components.seconds)))
            disks = await waker.wait(upTo: grace) { () -> [Int: String]? in
                let found = present()
                return found.count == wanted.count ? found : nil
            } ?? present()
        }
        func mapHolding(_ disks: [Int: String]) -> Found? {
            guard let first = disks.values.first, let wwid = host.udevSerial(of: first),
                disks.values.allSatisfy({ host.udevSerial(of: $0) == wwid }),
                let map = host.holdingMap(of: first), map.wwid == wwid,
                disks.values.allSatisfy({ host.holdingMap(of: $0)?.device == map.device }),
                host.deviceLinkExists(wwid: wwid)
            else { return nil }
            return Found(disks: disks, wwid: wwid, device: map.device)
        }
        var found: Found?
        if let disks, !disks.isEmpty {
            let left = { max(0.5, self.mapTimeout - Double((clock.now - start).components.seconds)) }
            // two paths of a new WWID make a map at once (find_multipaths smart); one alone would
            // wait find_multipaths_timeout and then be left as a plain disk: add it by hand
            found = await waker.wait(upTo: disks.count > 1 ? min(3, left()) : 0.2) { mapHolding(disks) }
            if found == nil {
                await addPaths(Array(disks.values))
                found = await waker.wait(upTo: left()) { mapHolding(disks) }
            }
        }
        guard let found else {
            throw SanpathError(.state, try await whyNoMap(steps: steps, hosts: hosts, lun: lun, failures: loginFailures))
        }
        let name = host.sysfs.value(of: "block/\(found.device)/dm/name") ?? found.device
        var paths: [AttachedPath] = []
        for (index, step) in steps.enumerated() {
            let portal = step.path.portal.description
            var path = AttachedPath(
                iface: step.path.iface, openISCSIIface: step.iface, nic: step.nic, portal: portal, target: step.path.target,
                session: sessionOf[index]?.id, disk: found.disks[index], up: found.disks[index] != nil, reason: nil)
            if let failure = loginFailures[index] {
                path.reason = failure
            } else if found.disks[index] == nil {
                path.reason = "LUN \(lun) did not appear on session \(sessionOf[index]?.id ?? 0)"
            } else if let disk = found.disks[index], host.sysfs.value(of: "block/\(disk)/device/state") != "running" {
                path.up = false
                path.reason = "disk \(disk) is \(host.sysfs.value(of: "block/\(disk)/device/state") ?? "gone")"
            }
            progress("\(step.iface) \(step.nic ?? "-") -> \(portal): " + (path.up ? "session \(path.session!), LUN \(lun) = \(path.disk!)" : "DOWN: \(path.reason!)"))
            paths.append(path)
        }
        return AttachResult(
            device: "\(host.devRoot)/disk/by-id/dm-uuid-mpath-\(found.wwid)", wwid: found.wwid, map: name, dm: found.device, paths: paths)
    }

    /// Puts the disks' WWID into multipath-tools' wwids file and hands the disks to multipathd,
    /// for a map that multipathd did not make by itself (a single path of a new WWID).
    func addPaths(_ disks: [String]) async {
        guard let first = disks.first else { return }
        _ = try? await host.runner.run(["multipath", "-a", "\(host.devRoot)/\(first)"], timeoutSeconds: 10)
        for disk in disks where host.holdingMap(of: disk) == nil {
            _ = try? await host.runner.run(["multipathd", "add", "path", disk], timeoutSeconds: 10)
        }
        progress("map: asked multipathd to take \(disks.sorted().joined(separator: ", ")) (multipath -a, multipathd add path)")
    }

    /// One path: its login when it has no session, then the scan of exactly the LUN on the
    /// session's host (`0 0 LUN`: iSCSI sessions are channel 0, target 0 of a host of their own).
    func bringUp(
        _ step: PathStep, index: Int, portal: PortalAddress, request: VolumeRequest, addresses: [String: [String]],
        waker: EventWaker
    ) async -> PathOutcomeReport {
        if step.needsLogin, let failure = await login(step, portal: portal, chap: request.chap) {
            return PathOutcomeReport(index: index, session: nil, host: nil, failure: failure)
        }
        // the session and its SCSI host as sysfs shows them; right after a login (two of them at
        // once) they may show a moment later than iscsiadm returns: wait for them, bounded
        let interfaces = self.interfaces
        let host = self.host
        let seen = await waker.wait(upTo: pathGrace) { () -> (session: ISCSISession, host: Int)? in
            let sessions = host.sysfs.sessions()
            guard
                let again = try? VolumeDecisions.attachSteps(
                    for: VolumeRequest(paths: [step.path], lun: request.lun), interfaces: interfaces,
                    ifaces: [HostIface(name: step.iface, nic: step.nic)], sessions: sessions, addresses: addresses),
                let id = again.first?.session, let session = sessions.first(where: { $0.id == id }),
                let number = host.hostNumber(ofSession: id)
            else { return nil }
            return (session, number)
        }
        guard let seen else {
            let what = step.needsLogin ? "iscsiadm logged in, but" : "the session went away:"
            return PathOutcomeReport(
                index: index, session: nil, host: nil,
                failure: "\(what) no LOGGED_IN session of \(step.path.target) at \(portal) with a SCSI host showed in sysfs within \(Int(pathGrace)) s")
        }
        let session = seen.session
        let number: Int? = seen.host
        if let number, host.disk(host: number, lun: request.lun) == nil {
            // the scan blocks while its session is silent: bounded, and it goes on in the background
            let writer = host.attributes
            let scan = host.sysfs.path("class/scsi_host/host\(number)/scan")
            do throws(SanpathError) {
                try await withTimeout(seconds: pathGrace) { () async throws(SanpathError) in try await writer.write("0 0 \(request.lun)", to: scan) }
            } catch {
                host.logger.warning("LUN scan failed", metadata: ["path": "\(step.path)", "error": "\(error.message)"])
            }
        }
        return PathOutcomeReport(index: index, session: session, host: number, failure: nil)
    }

    /// Creates or updates the node record (manual start, manual scan, the login bound, CHAP in
    /// the file, never on an argv) and logs in. Returns why it failed, or nil.
    func login(_ step: PathStep, portal: PortalAddress, chap: CHAPCredentials?) async -> String? {
        let node = ["-m", "node", "-T", step.path.target, "-p", portal.description, "-I", step.iface]
        do {
            if host.nodeRecord(target: step.path.target, portal: portal, iface: step.iface) == nil {
                try await iscsiadm(node + ["-o", "new"], what: "create the node record of \(step.path)")
            }
            guard let record = host.nodeRecord(target: step.path.target, portal: portal, iface: step.iface) else {
                return "iscsiadm made no node record under \(host.files.resolve(host.iscsiDatabase))/nodes/\(step.path.target)"
            }
            try writeRecordSettings(record, chap: chap)
            progress("\(step.iface) \(step.nic ?? "-") -> \(portal): logging in")
            let result = try await host.iscsiadm(node + ["--login"], timeoutSeconds: Double(loginTimeout + 5))
            guard result.succeeded else {
                // iscsiadm says why on stderr ("initiator reported error (8 - connection timed out)")
                let lines = result.stderr.split(separator: "\n").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
                let said = lines.last { $0.contains("reported error") } ?? lines.last ?? "exit \(result.status)"
                return "login failed: \(said)"
            }
            return nil
        } catch {
            return error.message
        }
    }

    /// The settings sanpath owns in a node record it logs in with.
    func writeRecordSettings(_ record: String, chap: CHAPCredentials?) throws(SanpathError) {
        guard let bytes = try host.files.read(record), let info = try host.files.info(record) else {
            throw SanpathError(.io, "node record \(host.files.resolve(record)) vanished")
        }
        var wanted = [
            ("node.startup", "manual"), ("node.session.scan", "manual"),
            ("node.conn[0].timeo.login_timeout", String(loginTimeout)), ("node.session.initial_login_retry_max", "1"),
        ]
        if let chap {
            wanted += [
                ("node.session.auth.authmethod", "CHAP"), ("node.session.auth.username", chap.username),
                ("node.session.auth.password", chap.password),
            ]
        }
        let text = wanted.map { ISCSIFormat.line(key: $0.0, value: $0.1) }.joined(separator: "\n") + "\n"
        let existing = ISCSIConf(text: String(decoding: bytes, as: UTF8.self), source: host.files.resolve(record))
        let merged = ISCSIMerge.merge(existing: existing, rendered: ISCSIConf(text: text, source: "sanpath"), profileName: "volume attach")
        guard merged.lines != existing.lines else { return }
        try host.files.write(record, Array(merged.lines.joined.utf8), info: FileInfo(mode: info.mode & 0o600, uid: info.uid, gid: info.gid))
    }

    /// Runs iscsiadm; a failure is an error naming what it tried (never an argv: it may be long).
    func iscsiadm(_ arguments: [String], what: String) async throws(SanpathError) {
        let result = try await host.iscsiadm(arguments, timeoutSeconds: 30)
        guard result.succeeded else {
            throw SanpathError(.command, "iscsiadm could not \(what) (exit \(result.status)): \(result.stderr.trimmingWhitespace())")
        }
    }

    /// Why no map formed, in multipath-tools' own words where it has some.
    func whyNoMap(steps: [PathStep], hosts: [Int: Int], lun: Int, failures: [Int: String]) async throws(SanpathError) -> String {
        var lines = ["no multipath map formed for LUN \(lun) within \(Int(mapTimeout)) s"]
        var disks: [String] = []
        for (index, step) in steps.enumerated() {
            if let failure = failures[index] {
                lines.append("  \(step.path): \(failure)")
            } else if let number = hosts[index], let disk = host.disk(host: number, lun: lun) {
                disks.append(disk)
                let serial = host.udevSerial(of: disk) ?? "no WWID from udev yet"
                let holder = host.holdingMap(of: disk).map { "held by \($0.device) (mpath-\($0.wwid))" } ?? "in no map"
                lines.append("  \(step.path): disk \(disk), WWID \(serial), \(holder)")
            } else {
                lines.append("  \(step.path): LUN \(lun) did not appear on its session (is it mapped to this initiator?)")
            }
        }
        let serials = Set(disks.compactMap(host.udevSerial(of:)))
        if serials.count > 1 {
            lines.append("  the paths report different WWIDs (\(serials.sorted().joined(separator: ", "))): they are not the same LUN")
        }
        // what multipathd has of those disks (a path it knows but keeps out of a map says why here)
        if !disks.isEmpty, let result = try? await host.runner.run(["multipathd", "show", "paths", "raw", "format", "%d %w %m %t %T %o"], timeoutSeconds: 10) {
            let known = result.stdout.split(separator: "\n").filter { line in disks.contains { line.hasPrefix("\($0) ") } }
            lines += known.isEmpty
                ? ["  multipathd knows none of \(disks.joined(separator: ", "))\(result.succeeded ? "" : " (multipathd did not answer: \(result.stderr.trimmingWhitespace()))")"]
                : known.map { "  multipathd: \($0) (disk wwid map dm-state checker-state dev-state)" }
        }
        for disk in disks {
            // multipath -c says whether multipath-tools takes the disk as a path, and -v3 why not
            if let result = try? await host.runner.run(["multipath", "-v3", "-c", "\(host.devRoot)/\(disk)"], timeoutSeconds: 10) {
                let said = (result.stdout + result.stderr).split(separator: "\n").map(String.init).filter {
                    $0.contains("blacklist") || $0.contains("find_multipaths") || $0.contains("valid multipath device path")
                        || $0.contains("wwid")
                }.suffix(4)
                lines += said.map { "  multipath-tools on \(disk): \($0.trimmingWhitespace())" }
            }
        }
        return lines.joined(separator: "\n")
    }
}
