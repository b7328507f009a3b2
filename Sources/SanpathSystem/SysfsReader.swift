import Foundation
import Synchronization
import SanpathHealth
#if os(Linux)
import CSanpathShims
#endif
#if os(Linux)
import Glibc
#endif

/// Reads SCSI disks, iSCSI sessions, NICs and dm slaves from a sysfs tree (`/sys`, or a captured
/// copy under another root). No libraries. A file or folder that is missing or vanishes mid-read
/// (a disk removed during the scan) is skipped, never an error.
public struct SysfsReader: Sendable {
    /// The sysfs root (`/sys`).
    public var root: String
    /// What a disk cannot change while it exists, kept between reads (the daemon's scans);
    /// nil: read everything every time.
    public var diskIdentities: DiskIdentityCache?

    /// Creates a reader of the sysfs tree at `root`.
    public init(root: String = "/sys", diskIdentities: DiskIdentityCache? = nil) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.diskIdentities = diskIdentities
    }

    // MARK: SCSI disks

    /// Every `sd*` disk: state, vendor, model, H:C:T:L, major:minor and iSCSI session, by kernel name.
    public func scsiDevices() -> [String: SCSIDevice] {
        scsiDevices(in: listing(of: "block"))
    }

    /// Every `sd*` disk of a listing of `/sys/block`. With `diskIdentities`, a disk whose entry
    /// there has the inode of the last read (kernfs numbers a node anew when the device is
    /// re-created) is its remembered identity with its state read again: on sysfs through the
    /// `state` file kept open (one `pread`), else opened afresh.
    func scsiDevices(in block: [DirectoryEntry]) -> [String: SCSIDevice] {
        var devices: [String: SCSIDevice] = [:]
        guard let cache = diskIdentities else {
            for entry in block where entry.name.hasPrefix("sd") {
                if let device = readDisk(named: entry.name) { devices[entry.name] = device }
            }
            return devices
        }
        let holdFiles = isSysfs
        cache.withEntries { entries in
            var seen: Set<String> = []
            for entry in block where entry.name.hasPrefix("sd") {
                seen.insert(entry.name)
                if let device = disk(named: entry.name, inode: entry.inode, in: &entries, holdFiles: holdFiles) { devices[entry.name] = device }
            }
            entries.prune(keeping: seen)
        }
        return devices
    }

    /// One disk, or nil when it is not there (any more).
    public func scsiDevice(named name: String) -> SCSIDevice? {
        guard let cache = diskIdentities else { return readDisk(named: name) }
        guard let inode = linkInode("block/\(name)") else {
            cache.withEntries { $0.remove(name) }
            return nil
        }
        let holdFiles = isSysfs
        return cache.withEntries { disk(named: name, inode: inode, in: &$0, holdFiles: holdFiles) }
    }

    /// A disk through the cache: the remembered identity while the inode is the same, else read whole.
    private func disk(named name: String, inode: UInt64, in entries: inout DiskIdentityCache.Entries, holdFiles: Bool) -> SCSIDevice? {
        if let known = entries.disk(named: name, inode: inode) {
            let state = known.stateFile >= 0 ? Self.value(ofOpen: known.stateFile) : value(of: "block/\(name)/device/state")
            guard let state else {
                entries.remove(name)
                return nil
            }
            var disk = known.disk
            disk.state = state
            return disk
        }
        entries.remove(name)
        guard let disk = readDisk(named: name) else { return nil }
        if disk.hctl != nil, disk.majorMinor != nil {
            let file = holdFiles && entries.mayHoldAnother ? open(path("block/\(name)/device/state"), O_RDONLY | O_CLOEXEC) : -1
            entries.remember(disk, name: name, inode: inode, stateFile: file)
        }
        return disk
    }

    /// One disk read whole from sysfs (no cache).
    func readDisk(named name: String) -> SCSIDevice? {
        let device = "block/\(name)/device"
        guard let state = value(of: "\(device)/state") else { return nil }
        // The disk's device folder is …/hostH/sessionN/targetH:C:T/H:C:T:L for iSCSI disks; in /sys
        // the link block/NAME -> ../devices/…/H:C:T:L/block/NAME says it in one readlink.
        let link = linkTarget("block/\(name)")
        var components = link?.split(separator: "/") ?? []
        if components.count >= 2, components[components.count - 2] == "block" {
            components.removeLast(2)
        } else {
            components = resolved("block/\(name)/device")?.split(separator: "/") ?? []
        }
        let hctl = components.last.map(String.init).flatMap { $0.split(separator: ":").count == 4 ? $0 : nil }
        let sessionID = components.lazy.compactMap { Self.number(after: "session", in: $0) }.last
        return SCSIDevice(
            name: name, hctl: hctl, majorMinor: value(of: "block/\(name)/dev"), state: state,
            vendor: value(of: "\(device)/vendor"), model: value(of: "\(device)/model"), sessionID: sessionID)
    }

    /// Whether `root` is a sysfs (an attribute file kept open reads afresh from offset 0, and
    /// fails once its device is gone; a copy's regular file would not).
    var isSysfs: Bool { sanpath_is_sysfs(root) != 0 }

    /// Only the `state` of a disk (`running`, `blocked`, `transport-offline`, …): the event fast path.
    public func scsiState(of name: String) -> String? {
        value(of: "block/\(name)/device/state")
    }

    // MARK: iSCSI sessions

    /// Every iSCSI session with its connection's portal, iface, netdev and disks. `devices` are the
    /// disks already read (read now when nil).
    public func sessions(devices: [String: SCSIDevice]? = nil) -> [ISCSISession] {
        let devices = devices ?? scsiDevices()
        let connectionEntries = listing(of: "class/iscsi_connection")
        let connections = connectionEntries.map(\.name)
        let listed = listing(of: "class/iscsi_session")
            .compactMap { entry in Self.number(after: "session", in: Substring(entry.name)).map { (id: $0, inode: entry.inode) } }
            .sorted { $0.id < $1.id }
        guard let cache = diskIdentities else { return listed.compactMap { session(id: $0.id, devices: devices, connections: connections) } }
        // With the cache: while the session's and its connection's entries are the same nodes (inodes),
        // target, iface, portal (persistent_address/port) and netdev are the remembered ones; state
        // and recovery_tmo are read every time.
        var result: [ISCSISession] = []
        for (id, inode) in listed {
            let connection = Self.firstConnection(of: id, in: connections).flatMap { name in connectionEntries.first { $0.name == name } }
            let key = DiskIdentityCache.SessionKey(session: inode, connection: connection)
            let folder = "class/iscsi_session/session\(id)"
            if var known = cache.withEntries({ $0.session(id: id, key: key) }) {
                guard let state = value(of: "\(folder)/state") else { continue }
                known.state = state
                known.recoveryTmo = value(of: "\(folder)/recovery_tmo").flatMap { Int($0) }
                known.devices = Self.devices(of: id, in: devices)
                result.append(known)
            } else if let session = session(id: id, devices: devices, connections: connections) {
                cache.withEntries { $0.remember(session, key: key) }
                result.append(session)
            }
        }
        cache.withEntries { $0.pruneSessions(keeping: Set(listed.map(\.id))) }
        return result
    }

    /// The session's connection in a listing of `class/iscsi_connection`: open-iscsi's sessions have
    /// one, `connectionN:0`; the lowest CID.
    static func firstConnection(of id: Int, in connections: [String]) -> String? {
        connections.filter { $0.hasPrefix("connection\(id):") }
            .min { (Int($0.split(separator: ":").last ?? "") ?? 0) < (Int($1.split(separator: ":").last ?? "") ?? 0) }
    }

    /// The names of the session's disks, in the kernel's order.
    static func devices(of id: Int, in devices: [String: SCSIDevice]) -> [String] {
        devices.values.filter { $0.sessionID == id }.map(\.name).sorted(by: kernelOrder)
    }

    /// One session, or nil when it is not there (any more).
    public func session(id: Int, devices: [String: SCSIDevice]) -> ISCSISession? {
        session(id: id, devices: devices, connections: entries(of: "class/iscsi_connection"))
    }

    /// Only the `state` of a session (`LOGGED_IN`, `FAILED`, `FREE`): the event fast path.
    public func sessionState(of id: Int) -> String? {
        value(of: "class/iscsi_session/session\(id)/state")
    }

    private func session(id: Int, devices: [String: SCSIDevice], connections: [String]) -> ISCSISession? {
        let folder = "class/iscsi_session/session\(id)"
        guard let target = value(of: "\(folder)/targetname"), let state = value(of: "\(folder)/state") else { return nil }
        let connection = Self.firstConnection(of: id, in: connections).map { "class/iscsi_connection/\($0)" }
        let address = connection.flatMap { value(of: "\($0)/persistent_address") ?? value(of: "\($0)/address") }
        let port = connection.flatMap { value(of: "\($0)/persistent_port") ?? value(of: "\($0)/port") }.flatMap { Int($0) }
        // The session sits under its SCSI host: …/hostH/sessionN/iscsi_session/sessionN.
        let host = (linkTarget(folder) ?? resolved(folder))?.split(separator: "/").last { $0.hasPrefix("host") && Int($0.dropFirst(4)) != nil }
        let netdev = host.flatMap { value(of: "class/iscsi_host/\($0)/netdev") }.flatMap(Self.set).flatMap { $0 == "default" ? nil : $0 }
        return ISCSISession(
            id: id, target: target, portalAddress: address.flatMap(Self.set), portalPort: port,
            iface: value(of: "\(folder)/ifacename").flatMap(Self.set), netdev: netdev, state: state,
            recoveryTmo: value(of: "\(folder)/recovery_tmo").flatMap { Int($0) },
            devices: Self.devices(of: id, in: devices))
    }

    // MARK: NICs

    /// Every network interface: operstate and carrier (nil when unreadable: a down link has none).
    public func nics() -> [String: NIC] {
        var nics: [String: NIC] = [:]
        for name in entries(of: "class/net") {
            guard let operstate = value(of: "class/net/\(name)/operstate") else { continue }
            let carrier = value(of: "class/net/\(name)/carrier").flatMap { $0 == "1" ? true : $0 == "0" ? false : nil }
            nics[name] = NIC(name: name, operstate: operstate, carrier: carrier)
        }
        return nics
    }

    // MARK: Device-mapper and block devices

    /// The kernel name of a block device (`sdb`, `dm-0`) from its `major:minor`.
    public func blockDevice(majorMinor: String) -> String? {
        // /sys/dev/block/8:16 -> ../../devices/…/block/sdb: one readlink, not realpath's walk
        if let target = linkTarget("dev/block/\(majorMinor)") ?? resolved("dev/block/\(majorMinor)"),
            let name = target.split(separator: "/").last
        {
            return String(name)
        }
        // Without /sys/dev (a partial copy), look through /sys/block.
        return entries(of: "block").first { value(of: "block/\($0)/dev") == majorMinor }
    }

    /// The disks under a dm device (`/sys/block/dm-N/slaves`).
    public func slaves(of sysfsName: String) -> [String] {
        entries(of: "block/\(sysfsName)/slaves").sorted(by: Self.kernelOrder)
    }

    /// dm names by kernel name (`dm-0` → `mpatha`), from `/sys/block/dm-N/dm/name`.
    public func deviceMapperNames() -> [String: String] {
        var names: [String: String] = [:]
        for device in entries(of: "block") where device.hasPrefix("dm-") {
            if let name = value(of: "block/\(device)/dm/name") { names[device] = name }
        }
        return names
    }

    // MARK: Reading

    /// The trimmed contents of a sysfs attribute, or nil when it is missing or unreadable.
    /// The full scan reads a thousand of these at 64 LUNs: one open, one read (a sysfs attribute
    /// comes whole in the first read when it fits the page), one close, no Foundation.
    public func value(of relative: String) -> String? {
        let fd = open(path(relative), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        let pageSize = 4096
        let text: String? = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: pageSize) { buffer in
            while true {
                let count = read(fd, buffer.baseAddress, pageSize)
                if count < 0 {
                    if errno == EINTR { continue }
                    return nil
                }
                // a short first read is the whole attribute (sysfs); a regular file may need more
                if count == 0 || (bytes.isEmpty && count < pageSize) {
                    if bytes.isEmpty { return Self.trimmed(UnsafeBufferPointer(rebasing: buffer[..<count])) }
                    break
                }
                bytes.append(contentsOf: buffer[..<count])
            }
            return nil
        }
        if let text { return text }
        return bytes.isEmpty ? nil : bytes.withUnsafeBufferPointer { Self.trimmed($0) }
    }

    /// The trimmed contents of an attribute file kept open, read again from offset 0 (sysfs shows
    /// the attribute afresh); nil when the read fails (the device is gone: ENODEV).
    static func value(ofOpen fd: Int32) -> String? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
            var count: Int
            repeat { count = pread(fd, buffer.baseAddress, 4096, 0) } while count < 0 && errno == EINTR
            guard count >= 0 else { return nil }
            return trimmed(UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// The bytes as UTF-8 without leading and trailing ASCII whitespace.
    static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        var start = 0
        var end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    /// Where a symbolic link points (its text, as `readlink` gives it), or nil when it is no link.
    public func linkTarget(_ relative: String) -> String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 4096) { buffer in
            let count = readlink(path(relative), buffer.baseAddress!, 4096)
            guard count > 0, count < 4096 else { return nil }
            return String(decoding: UnsafeRawBufferPointer(start: buffer.baseAddress, count: count).bindMemory(to: UInt8.self), as: UTF8.self)
        }
    }

    /// Names in a folder; empty when it is missing.
    public func entries(of relative: String) -> [String] {
        listing(of: relative).map(\.name)
    }

    /// A folder's entries with their inode numbers (`d_ino`, what `lstat` would give), in the order
    /// `readdir` gives them, without `.` and `..`; empty when it is missing.
    func listing(of relative: String) -> [DirectoryEntry] {
        guard let directory = opendir(path(relative)) else { return [] }
        defer { closedir(directory) }
        var result: [DirectoryEntry] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            result.append(DirectoryEntry(name: name, inode: UInt64(entry.pointee.d_ino)))
        }
        return result
    }

    /// The inode number of a path itself (a link's own), or nil when it is missing.
    func linkInode(_ relative: String) -> UInt64? {
        var info = stat()
        return lstat(path(relative), &info) == 0 ? UInt64(info.st_ino) : nil
    }

    /// The canonical path a sysfs link points to, or nil.
    func resolved(_ relative: String) -> String? {
        guard let real = realpath(path(relative), nil) else { return nil }
        defer { free(real) }
        return String(cString: real)
    }

    /// The real path of a sysfs-relative path (`block/sdb/device/delete`).
    public func path(_ relative: String) -> String { root == "/" ? "/\(relative)" : "\(root)/\(relative)" }

    /// `N` of `prefixN`.
    static func number(after prefix: String, in component: Substring) -> Int? {
        guard component.hasPrefix(prefix) else { return nil }
        return Int(component.dropFirst(prefix.count))
    }

    /// nil for the placeholders sysfs and open-iscsi print for "not set".
    static func set(_ value: String) -> String? {
        ["", "<empty>", "(null)", "<NULL>"].contains(value) ? nil : value
    }

    /// sda < sdb < … < sdz < sdaa, the kernel's naming order.
    public static func kernelOrder(_ a: String, _ b: String) -> Bool {
        a.count != b.count ? a.count < b.count : a < b
    }
}

/// One entry of a folder.
struct DirectoryEntry: Sendable, Hashable {
    var name: String
    var inode: UInt64
}

/// A disk's identity (name, H:C:T:L, session, major:minor, vendor, model) by its name and the inode
/// number of its `/sys/block` entry: kernfs gives every node a new number (cyclically allocated) when
/// it is created, so a disk removed and added again under the same name has another, and is read
/// afresh. While the number is the same, the disk is the same SCSI device on the same session and
/// only its state needs reading; on sysfs its `state` file is kept open and read again from offset 0
/// (one `pread`, no path walk through the disk's links). The daemon's full scan reads 128 disks every
/// resync at 64 LUNs. At most `maxOpenFiles` files are kept open (a quarter of the soft file limit,
/// at most 4096); the disks past that are opened each time.
public final class DiskIdentityCache: Sendable {
    struct Known {
        var inode: UInt64
        var disk: SCSIDevice
        /// The disk's `device/state` kept open, or -1.
        var stateFile: Int32
    }

    /// What identifies a session's sysfs nodes: the inode of its `class/iscsi_session` entry and the
    /// name and inode of its connection's `class/iscsi_connection` entry (nil before it has one).
    struct SessionKey: Hashable {
        var session: UInt64
        var connection: DirectoryEntry?
    }

    /// The remembered disks and sessions; only inside `withEntries` (a file kept open is read and closed under the lock).
    struct Entries {
        private(set) var disks: [String: Known] = [:]
        private(set) var sessions: [Int: (key: SessionKey, session: ISCSISession)] = [:]
        private(set) var openFiles = 0
        let maxOpenFiles: Int

        var mayHoldAnother: Bool { openFiles < maxOpenFiles }

        func disk(named name: String, inode: UInt64) -> Known? {
            guard let known = disks[name], known.inode == inode else { return nil }
            return known
        }

        mutating func remember(_ disk: SCSIDevice, name: String, inode: UInt64, stateFile: Int32) {
            remove(name)
            disks[name] = Known(inode: inode, disk: disk, stateFile: stateFile)
            if stateFile >= 0 { openFiles += 1 }
        }

        mutating func remove(_ name: String) {
            guard let known = disks.removeValue(forKey: name) else { return }
            if known.stateFile >= 0 {
                close(known.stateFile)
                openFiles -= 1
            }
        }

        func session(id: Int, key: SessionKey) -> ISCSISession? {
            guard let known = sessions[id], known.key == key else { return nil }
            return known.session
        }

        mutating func remember(_ session: ISCSISession, key: SessionKey) {
            sessions[session.id] = (key, session)
        }

        /// Forgets every session not in `ids`.
        mutating func pruneSessions(keeping ids: Set<Int>) {
            sessions = sessions.filter { ids.contains($0.key) }
        }

        /// Forgets every disk not in `names` (gone from `/sys/block`).
        mutating func prune(keeping names: Set<String>) {
            for name in disks.keys where !names.contains(name) { remove(name) }
        }
    }

    private let entries: Mutex<Entries>

    /// An empty cache.
    public init() {
        var limit = rlimit()
        let soft = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur < 1 << 30 ? Int(limit.rlim_cur) : 1024
        entries = Mutex(Entries(maxOpenFiles: min(4096, soft / 4)))
    }

    deinit {
        entries.withLock { entries in entries.prune(keeping: []) }
    }

    func withEntries<R>(_ body: (inout Entries) -> R) -> R { entries.withLock { body(&$0) } }

    /// How many `state` files are kept open (tests).
    var openFiles: Int { entries.withLock { $0.openFiles } }
}
