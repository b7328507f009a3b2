#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Synchronization
import SanpathConfig
import SanpathCore
import SanpathHealth
import SanpathHost
import SanpathSite
import SanpathSystem

/// Writes one kernel attribute (`/sys/class/scsi_host/hostH/scan`, `…/device/delete`): a plain
/// open-write-close, never a temp file and rename. The boundary tests replace.
public protocol KernelAttributeWriter: Sendable {
    /// Writes `text` to the attribute at `path` (a real path); throws with the errno's message.
    func write(_ text: String, to path: String) async throws(SanpathError)
}

/// The real writer. A write can block for as long as the kernel's operation (a scan waits for
/// the LUN's INQUIRY), so it runs on its own thread, and the caller bounds it.
public struct SysfsAttributeWriter: KernelAttributeWriter {
    /// Creates the writer.
    public init() {}

    public func write(_ text: String, to path: String) async throws(SanpathError) {
        let result: Int32 = await withCheckedContinuation { continuation in
            Thread {
                let fd = open(path, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else { return continuation.resume(returning: errno) }
                defer { close(fd) }
                let bytes = Array(text.utf8)
                let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                continuation.resume(returning: written == bytes.count ? 0 : errno)
            }.start()
        }
        guard result == 0 else {
            throw SanpathError(.io, "cannot write '\(text.trimmingWhitespace())' to \(path): \(String(cString: strerror(result)))")
        }
    }
}

/// Everything the volume commands touch on the host, real or under a test root.
public struct VolumeHost: Sendable {
    /// sysfs (`/sys`).
    public var sysfs: SysfsReader
    /// The host's files (open-iscsi's database, `/proc` is read directly).
    public var files: any HostFileSystem
    /// iscsiadm, multipath, dmsetup, udevadm, the unexport program.
    public var runner: any CommandRunner
    /// Kernel attribute writes (scan, delete).
    public var attributes: any KernelAttributeWriter
    /// Block-device events after udev's rules ran: what every wait wakes on.
    public var events: any UdevEventSource
    /// open-iscsi's database (`/etc/iscsi` on Debian, `/var/lib/iscsi` on RHEL).
    public var iscsiDatabase: String
    /// Where udev keeps each device's properties (`/run/udev/data`).
    public var udevData: String
    /// Where device nodes and links are (`/dev`).
    public var devRoot: String
    /// Where processes and mounts are read (`/proc`).
    public var procRoot: String
    /// Logger (metadata: path, session, map).
    public var logger: Logger

    /// Creates a host.
    public init(
        sysfs: SysfsReader, files: any HostFileSystem, runner: any CommandRunner, attributes: any KernelAttributeWriter,
        events: any UdevEventSource, iscsiDatabase: String, udevData: String = "/run/udev/data", devRoot: String = "/dev",
        procRoot: String = "/proc", logger: Logger
    ) {
        self.sysfs = sysfs
        self.files = files
        self.runner = runner
        self.attributes = attributes
        self.events = events
        self.iscsiDatabase = iscsiDatabase
        self.udevData = udevData
        self.devRoot = devRoot
        self.procRoot = procRoot
        self.logger = logger
    }

    // MARK: open-iscsi's database

    /// The ifaces under `<database>/ifaces`, with the NIC each binds to.
    public func ifaces() throws(SanpathError) -> [HostIface] {
        var out: [HostIface] = []
        for name in files.list("\(iscsiDatabase)/ifaces").sorted() {
            guard let bytes = try files.read("\(iscsiDatabase)/ifaces/\(name)") else { continue }
            let conf = ISCSIConf(text: String(decoding: bytes, as: UTF8.self), source: "\(iscsiDatabase)/ifaces/\(name)")
            let nic = conf.effective("iface.net_ifacename")?.value
            out.append(HostIface(name: name, nic: nic.flatMap { ["", "<empty>", "default"].contains($0) ? nil : $0 }))
        }
        return out
    }

    /// The node record file of a target, portal and iface, nil when there is none. open-iscsi 2.x
    /// keeps a record whose portal group is known as `nodes/IQN/ADDR,PORT,TPGT/IFACE`, and one made
    /// with `-o new` (group unknown) as the file `nodes/IQN/ADDR,PORT`, its iface inside.
    public func nodeRecord(target: String, portal: PortalAddress, iface: String) -> String? {
        let base = "\(iscsiDatabase)/nodes/\(target)"
        for entry in files.list(base).sorted() where entry.hasPrefix("\(portal.host),\(portal.port),") || entry == "\(portal.host),\(portal.port)" {
            let path = "\(base)/\(entry)"
            if files.isDirectory(path) {
                if files.list(path).contains(iface) { return "\(path)/\(iface)" }
            } else if let bytes = try? files.read(path) {
                let named = ISCSIConf(text: String(decoding: bytes, as: UTF8.self), source: path).effective("iface.iscsi_ifacename")?.value
                if (named ?? "default") == iface { return path }
            }
        }
        return nil
    }

    // MARK: sysfs

    /// The SCSI host number of a session (`…/hostH/sessionN`).
    public func hostNumber(ofSession id: Int) -> Int? {
        let link = sysfs.linkTarget("class/iscsi_session/session\(id)") ?? ""
        return link.split(separator: "/").lazy.compactMap { $0.hasPrefix("host") ? Int($0.dropFirst(4)) : nil }.last
    }

    /// The disk at `H:0:0:LUN` of a session's host, if the kernel has it.
    public func disk(host: Int, lun: Int) -> String? {
        sysfs.entries(of: "class/scsi_device/\(host):0:0:\(lun)/device/block").first
    }

    /// udev's `ID_SERIAL` of a disk (what multipath-tools takes as its WWID), once udev ran its rules.
    public func udevSerial(of disk: String) -> String? {
        guard let majorMinor = sysfs.value(of: "block/\(disk)/dev"),
            let data = try? String(contentsOfFile: "\(udevData)/b\(majorMinor)", encoding: .utf8)
        else { return nil }
        return data.split(separator: "\n").first { $0.hasPrefix("E:ID_SERIAL=") }.map { String($0.dropFirst("E:ID_SERIAL=".count)) }
    }

    /// The dm-multipath map holding a disk: its kernel name (`dm-3`) and WWID (dm uuid `mpath-<wwid>`).
    public func holdingMap(of disk: String) -> (device: String, wwid: String)? {
        for holder in sysfs.entries(of: "block/\(disk)/holders").sorted() {
            if let uuid = sysfs.value(of: "block/\(holder)/dm/uuid"), uuid.hasPrefix("mpath-") {
                return (holder, String(uuid.dropFirst("mpath-".count)))
            }
        }
        return nil
    }

    /// Every dm-multipath map: kernel name, dm name and WWID.
    public func maps() -> [(device: String, name: String, wwid: String)] {
        sysfs.entries(of: "block").filter { $0.hasPrefix("dm-") }.sorted(by: SysfsReader.kernelOrder).compactMap { device in
            guard let uuid = sysfs.value(of: "block/\(device)/dm/uuid"), uuid.hasPrefix("mpath-") else { return nil }
            return (device, sysfs.value(of: "block/\(device)/dm/name") ?? device, String(uuid.dropFirst("mpath-".count)))
        }
    }

    /// Whether `/dev/disk/by-id/dm-uuid-mpath-<wwid>` exists (udev made the link).
    public func deviceLinkExists(wwid: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(devRoot)/disk/by-id/dm-uuid-mpath-\(wwid)")
    }

    // MARK: waiting

    /// Starts listening to block-device events now, before the action whose result is waited
    /// for, so no event is missed.
    public func listen() -> EventWaker { EventWaker(events: events.events()) }
}

/// A value behind a lock that closures and tasks can share.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending Value) -> sending R) -> R { mutex.withLock(body) }
}

/// Wakes waiters on each block-device event. Checks run again after every event and at least
/// once a second (a missed event costs a second, never the wait).
public final class EventWaker: Sendable {
    private let waiters = Locked<(next: Int, pending: [Int: CheckedContinuation<Void, Never>])>((0, [:]))
    private let reader: Task<Void, Never>

    init(events: AsyncStream<UdevStreamItem>) {
        let waiters = self.waiters
        reader = Task {
            for await _ in events {
                let woken = waiters.withLock { state in
                    let all = Array(state.pending.values)
                    state.pending.removeAll()
                    return all
                }
                for continuation in woken { continuation.resume() }
            }
        }
    }

    deinit { reader.cancel() }

    /// Stops listening.
    public func stop() { reader.cancel() }

    /// Returns at the next event or after `timeout`, whichever comes first.
    func nextEvent(timeout: Duration) async {
        let waiters = self.waiters
        let timer = Locked<Task<Void, Never>?>(nil)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id = waiters.withLock { state in
                state.next += 1
                state.pending[state.next] = continuation
                return state.next
            }
            let task = Task {
                try? await Task.sleep(for: timeout)
                waiters.withLock { $0.pending.removeValue(forKey: id) }?.resume()
            }
            timer.withLock { $0 = task }
        }
        timer.withLock { $0 }?.cancel()
    }

    /// Checks `condition` now and after each event until it gives a value or `seconds` passed.
    public func wait<T: Sendable>(upTo seconds: Double, until condition: () -> T?) async -> T? {
        if let value = condition() { return value }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
        while clock.now < deadline {
            await nextEvent(timeout: min(clock.now.duration(to: deadline), .seconds(1)))
            if let value = condition() { return value }
        }
        return nil
    }
}

extension VolumeHost {
    /// Runs `iscsiadm ARGUMENTS`, once more when it lost open-iscsi's race for its lock directory.
    ///
    /// Before open-iscsi 2.1.10 (upstream 13cddb2, "Better handle multiple iscsiadm commands"),
    /// `idbm_lock` created `/run/lock/iscsi` with `access()` then `mkdir()` and failed on EEXIST:
    /// two iscsiadm started at once on a host where the directory did not exist yet (the first
    /// ones after a boot, as an attach's two node records are) could lose, with "Could not open
    /// /run/lock/iscsi: File exists". Debian 12 ships 2.1.8; the lab's volume scenario hit it.
    /// The directory exists once the race is lost, so the second run does not race again.
    public func iscsiadm(_ arguments: [String], timeoutSeconds: Double) async throws(SanpathError) -> CommandResult {
        let result = try await runner.run(["iscsiadm"] + arguments, timeoutSeconds: timeoutSeconds)
        guard !result.succeeded, Self.lostLockDirectoryRace(result.stderr) else { return result }
        logger.info("iscsiadm lost open-iscsi's lock-directory race (open-iscsi < 2.1.10): running it again", metadata: ["stderr": "\(result.stderr.trimmingWhitespace())"])
        return try await runner.run(["iscsiadm"] + arguments, timeoutSeconds: timeoutSeconds)
    }

    /// Whether iscsiadm's words are those of the lock-directory race: "Could not open
    /// /run/lock/iscsi: File exists" (or /var/lock/iscsi, with the errno number in later builds).
    static func lostLockDirectoryRace(_ stderr: String) -> Bool {
        stderr.split(separator: "\n").contains { line in
            line.contains("Could not open ") && line.contains("/lock/iscsi") && line.contains("File exists")
        }
    }
}
