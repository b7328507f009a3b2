#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import SanpathCore
import SanpathHealth
import SanpathHost
import SanpathSite
import SanpathSystem

/// What `volume detach` did.
public struct DetachResult: Sendable, Hashable, Codable {
    /// The volume's WWID.
    public var wwid: String
    /// The map removed (dm name), nil when there was none left.
    public var map: String?
    /// SCSI disks deleted.
    public var removedDisks: [String]
    /// Sessions logged out (`target portal iface`), their node records deleted.
    public var loggedOut: [String]
    /// Sessions kept because another LUN uses them.
    public var keptSessions: [String]
    /// What the unexport program said, when one ran.
    public var unexport: String?
    /// What is still there for the WWID after the detach (empty: nothing left).
    public var leftovers: [String]
}

/// Detaches a volume in two phases: the host lets go of the map and its disks, then the
/// array's export is dropped and sessions no other LUN uses are logged out; then it verifies
/// that nothing is left for the WWID.
public struct VolumeDetacher: Sendable {
    /// The host.
    public var host: VolumeHost
    /// Detach an open map (queued I/O is failed first so the flush cannot hang).
    public var force: Bool
    /// Program run (argv: PROGRAM WWID TARGET LUN, no shell) where Eucalyptus calls UnexportVolume.
    public var unexport: String?
    /// One line per step, for a terminal.
    public var progress: @Sendable (String) -> Void

    /// Creates a detacher.
    public init(host: VolumeHost, force: Bool = false, unexport: String? = nil, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.host = host
        self.force = force
        self.unexport = unexport
        self.progress = progress
    }

    /// The map and WWID a DEVICE (`/dev/disk/by-id/dm-uuid-mpath-…`, `/dev/mapper/NAME`,
    /// `/dev/dm-N`), a map name or a WWID names; the map may be gone already (nil device).
    public func resolve(_ spec: String) throws(SanpathError) -> (wwid: String, device: String?) {
        let maps = host.maps()
        if spec.hasPrefix("/") {
            guard let real = realpath(spec, nil) else {
                throw SanpathError(.state, "\(spec): no such device (give the multipath device attach printed, a map name or a WWID)")
            }
            defer { free(real) }
            let name = URL(fileURLWithPath: String(cString: real)).lastPathComponent
            guard let map = maps.first(where: { $0.device == name }) else {
                throw SanpathError(.state, "\(spec) is \(name), not a dm-multipath map; sanpath detaches whole multipath volumes")
            }
            return (map.wwid, map.device)
        }
        if let map = maps.first(where: { $0.name == spec || $0.wwid == spec || $0.device == spec }) {
            return (map.wwid, map.device)
        }
        if !disks(withSerial: spec).isEmpty { return (spec, nil) }
        throw SanpathError(
            .state, "no multipath map, map name or disk has the WWID '\(spec)' on this host (sanpath volume list shows what is attached)")
    }

    /// Disks whose udev WWID is `wwid`.
    func disks(withSerial wwid: String) -> [String] {
        host.sysfs.entries(of: "block").filter { $0.hasPrefix("sd") && host.udevSerial(of: $0) == wwid }
    }

    /// What holds the map open (refused without `force`).
    public func holders(ofMap device: String) -> [DeviceHolder] {
        guard let number = host.sysfs.value(of: "block/\(device)/dev") else { return [] }
        return HolderScan(procRoot: host.procRoot).holders(
            of: device, majorMinor: number, sysfsHolders: { host.sysfs.entries(of: "block/\($0)/holders").sorted() },
            majorMinorOf: { host.sysfs.value(of: "block/\($0)/dev") })
    }

    /// Detaches.
    public func detach(_ spec: String) async throws(SanpathError) -> DetachResult {
        let (wwid, device) = try resolve(spec)
        let mapName = device.flatMap { host.sysfs.value(of: "block/\($0)/dm/name") }
        if let device, !force {
            let holding = holders(ofMap: device)
            guard holding.isEmpty else {
                throw SanpathError(
                    .state,
                    "refusing to detach \(mapName ?? device) (WWID \(wwid)): it is in use: \(holding.map(\.description).joined(separator: "; ")). Stop the user first, or pass --force to fail its I/O and detach anyway")
            }
        }
        let waker = host.listen()
        defer { waker.stop() }
        var disks = Set(device.map { host.sysfs.slaves(of: $0) } ?? [])
        disks.formUnion(self.disks(withSerial: wwid))
        let devices = host.sysfs.scsiDevices()
        let sessions = host.sysfs.sessions(devices: devices)
        let logOut = VolumeDecisions.sessionsToLogOut(removing: disks, sessions: sessions)
        let kept = sessions.filter { session in session.devices.contains(where: disks.contains) && !logOut.contains(session) }
        // what the unexport program needs: the target and LUN of the volume's paths
        let exports = Set(disks.compactMap { disk -> String? in
            guard let device = devices[disk], let id = device.sessionID, let target = sessions.first(where: { $0.id == id })?.target,
                let lun = device.hctl?.split(separator: ":").last
            else { return nil }
            return "\(target) \(lun)"
        })

        // phase 1: the host lets go: flush the map, delete its disks
        if let device, let mapName {
            try await flush(mapName, device: device, disks: disks, waker: waker)
        }
        for disk in disks.sorted(by: SysfsReader.kernelOrder) {
            let writer = host.attributes
            let attribute = host.sysfs.path("block/\(disk)/device/delete")
            do throws(SanpathError) {
                try await withTimeout(seconds: 30) { () async throws(SanpathError) in try await writer.write("1", to: attribute) }
            } catch {
                // gone already is what we wanted
                if host.sysfs.value(of: "block/\(disk)/dev") != nil { throw error }
            }
            let gone = await waker.wait(upTo: 10) { host.sysfs.value(of: "block/\(disk)/dev") == nil ? true : nil }
            guard gone == true else {
                throw SanpathError(.state, "disk \(disk) of \(wwid) is still there 10 s after its delete (state \(host.sysfs.value(of: "block/\(disk)/device/state") ?? "?"))")
            }
            progress("\(disk): deleted")
        }

        // phase 2: the array drops the export; sessions no other LUN uses are logged out
        var said: String?
        if let unexport {
            var outputs: [String] = []
            for export in exports.sorted() {
                let parts = export.split(separator: " ").map(String.init)
                let result = try await host.runner.run([unexport, wwid] + parts, timeoutSeconds: 120)
                guard result.succeeded else {
                    throw SanpathError(
                        .command,
                        "the host let go of \(wwid), but \(unexport) failed (exit \(result.status)): \(result.stderr.trimmingWhitespace()); the export stays on the array")
                }
                outputs.append(result.stdout.trimmingWhitespace())
                progress("unexport \(parts.joined(separator: " lun ")): done")
            }
            said = outputs.filter { !$0.isEmpty }.joined(separator: "\n")
        }
        var loggedOut: [String] = []
        for session in logOut {
            guard let address = session.portalAddress else { continue }
            let portal = PortalAddress(host: address, port: session.portalPort ?? 3260).description
            let iface = session.iface ?? "default"
            let node = ["-m", "node", "-T", session.target, "-p", portal, "-I", iface]
            let result = try await host.iscsiadm(node + ["--logout"], timeoutSeconds: 30)
            // exit 21: no session (it went away meanwhile): logged out is what we wanted
            guard result.succeeded || result.status == 21 else {
                throw SanpathError(.command, "iscsiadm could not log out of \(session.target) \(portal) iface \(iface) (exit \(result.status)): \(result.stderr.trimmingWhitespace())")
            }
            _ = try await host.iscsiadm(node + ["-o", "delete"], timeoutSeconds: 30)
            loggedOut.append("\(session.target) \(portal) \(iface)")
            progress("session \(session.id) (\(portal) via \(iface)): logged out, node record deleted")
        }
        // a target this host no longer has any session to keeps no node record either (the record
        // of a path whose login failed at attach would otherwise stay behind)
        let remaining = Set(host.sysfs.sessions().map(\.target))
        for target in Set(logOut.map(\.target)) where !remaining.contains(target) && !host.files.list("\(host.iscsiDatabase)/nodes/\(target)").isEmpty {
            _ = try await host.runner.run(["iscsiadm", "-m", "node", "-T", target, "-o", "delete"], timeoutSeconds: 30)
            progress("\(target): no session left, its node records deleted")
        }

        let leftovers = await self.leftovers(wwid: wwid)
        return DetachResult(
            wwid: wwid, map: mapName, removedDisks: disks.sorted(by: SysfsReader.kernelOrder), loggedOut: loggedOut,
            keptSessions: kept.map { "\($0.target) \($0.portal ?? "?") \($0.iface ?? "default") (session \($0.id))" }, unexport: said,
            leftovers: leftovers)
    }

    /// Flushes a map: with `force`, or when no path is left to carry queued I/O, queueing is
    /// turned off first so the flush cannot hang; bounded retries.
    func flush(_ name: String, device: String, disks: Set<String>, waker: EventWaker) async throws(SanpathError) {
        let running = disks.filter { host.sysfs.value(of: "block/\($0)/device/state") == "running" }
        if force || running.isEmpty {
            _ = try? await host.runner.run(["dmsetup", "message", name, "0", "fail_if_no_path"], timeoutSeconds: 10)
            progress("\(name): queueing off (fail_if_no_path)")
        }
        var last = ""
        for attempt in 1...3 {
            let result = try await host.runner.run(["multipath", "-f", name], timeoutSeconds: 30)
            if await waker.wait(upTo: 5, until: { host.sysfs.value(of: "block/\(device)/dm/uuid") == nil ? true : nil }) == true {
                progress("\(name): flushed")
                return
            }
            last = (result.stderr + result.stdout).trimmingWhitespace()
            host.logger.info("map flush did not take", metadata: ["map": "\(name)", "attempt": "\(attempt)", "said": "\(last)"])
        }
        if force {
            let result = try await host.runner.run(["dmsetup", "remove", "--force", "--retry", name], timeoutSeconds: 30)
            if result.succeeded { progress("\(name): removed (dmsetup remove --force)"); return }
            last = result.stderr.trimmingWhitespace()
        }
        throw SanpathError(.state, "map \(name) could not be flushed after 3 tries: \(last.isEmpty ? "it is still there" : last)")
    }

    /// What is still on the host for the WWID: disks, a map, multipathd paths.
    public func leftovers(wwid: String) async -> [String] {
        var out = disks(withSerial: wwid).map { "disk \($0)" }
        out += host.maps().filter { $0.wwid == wwid }.map { "map \($0.name) (\($0.device))" }
        if let result = try? await host.runner.run(["multipathd", "show", "paths", "raw", "format", "%w %d"], timeoutSeconds: 10),
            result.succeeded
        {
            out += result.stdout.split(separator: "\n").filter { $0.hasPrefix("\(wwid) ") }.map { "multipathd path \($0.split(separator: " ").last ?? "")" }
        }
        return out
    }
}

/// Runs `body`, or throws when it takes longer than `seconds`; the body goes on in the
/// background then (a kernel write cannot be interrupted).
func withTimeout(seconds: Double, _ body: @escaping @Sendable () async throws(SanpathError) -> Void) async throws(SanpathError) {
    let once = Locked<CheckedContinuation<SanpathError?, Never>?>(nil)
    let outcome: SanpathError? = await withCheckedContinuation { (continuation: CheckedContinuation<SanpathError?, Never>) in
        once.withLock { $0 = continuation }
        Task {
            var failure: SanpathError?
            do throws(SanpathError) { try await body() } catch { failure = error }
            let waiting = once.withLock { $0.take() }
            waiting?.resume(returning: failure)
        }
        Task {
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            let waiting = once.withLock { $0.take() }
            waiting?.resume(returning: SanpathError(.state, "did not finish within \(Int(seconds)) s"))
        }
    }
    if let outcome { throw outcome }
}
