import Foundation
import Synchronization
import SanpathHealth
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
        var devices: [String: SCSIDevice] = [:]
        for name in entries(of: "block") where name.hasPrefix("sd") {
            if let device = scsiDevice(named: name) { devices[name] = device }
        }
        return devices
    }

    /// One disk, or nil when it is not there (any more).
    public func scsiDevice(named name: String) -> SCSIDevice? {
        let device = "block/\(name)/device"
        guard let state = value(of: "\(device)/state") else { return nil }
        // The disk's device folder is …/hostH/sessionN/targetH:C:T/H:C:T:L for iSCSI disks; in /sys
        // the link block/NAME -> ../devices/…/H:C:T:L/block/NAME says it in one readlink.
        let link = linkTarget("block/\(name)")
        if let link, var known = diskIdentities?.disk(link: link) {
            known.state = state
            return known
        }
        var components = link?.split(separator: "/") ?? []
        if components.count >= 2, components[components.count - 2] == "block" {
            components.removeLast(2)
        } else {
            components = resolved("block/\(name)/device")?.split(separator: "/") ?? []
        }
        let hctl = components.last.map(String.init).flatMap { $0.split(separator: ":").count == 4 ? $0 : nil }
        let sessionID = components.lazy.compactMap { Self.number(after: "session", in: $0) }.last
        let disk = SCSIDevice(
            name: name, hctl: hctl, majorMinor: value(of: "block/\(name)/dev"), state: state,
            vendor: value(of: "\(device)/vendor"), model: value(of: "\(device)/model"), sessionID: sessionID)
        if let link, hctl != nil, disk.majorMinor != nil { diskIdentities?.remember(disk, link: link) }
        return disk
    }

    /// Only the `state` of a disk (`running`, `blocked`, `transport-offline`, …): the event fast path.
    public func scsiState(of name: String) -> String? {
        value(of: "block/\(name)/device/state")
    }

    // MARK: iSCSI sessions

    /// Every iSCSI session with its connection's portal, iface, netdev and disks. `devices` are the
    /// disks already read (read now when nil).
    public func sessions(devices: [String: SCSIDevice]? = nil) -> [ISCSISession] {
        let devices = devices ?? scsiDevices()
        let connections = entries(of: "class/iscsi_connection")
        return entries(of: "class/iscsi_session")
            .compactMap { Self.number(after: "session", in: Substring($0)) }
            .sorted()
            .compactMap { session(id: $0, devices: devices, connections: connections) }
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
        // open-iscsi's sessions have one connection, `connectionN:0`; take the lowest CID.
        let connection = connections.filter { $0.hasPrefix("connection\(id):") }
            .min { (Int($0.split(separator: ":").last ?? "") ?? 0) < (Int($1.split(separator: ":").last ?? "") ?? 0) }
            .map { "class/iscsi_connection/\($0)" }
        let address = connection.flatMap { value(of: "\($0)/persistent_address") ?? value(of: "\($0)/address") }
        let port = connection.flatMap { value(of: "\($0)/persistent_port") ?? value(of: "\($0)/port") }.flatMap { Int($0) }
        // The session sits under its SCSI host: …/hostH/sessionN/iscsi_session/sessionN.
        let host = (linkTarget(folder) ?? resolved(folder))?.split(separator: "/").last { $0.hasPrefix("host") && Int($0.dropFirst(4)) != nil }
        let netdev = host.flatMap { value(of: "class/iscsi_host/\($0)/netdev") }.flatMap(Self.set).flatMap { $0 == "default" ? nil : $0 }
        return ISCSISession(
            id: id, target: target, portalAddress: address.flatMap(Self.set), portalPort: port,
            iface: value(of: "\(folder)/ifacename").flatMap(Self.set), netdev: netdev, state: state,
            recoveryTmo: value(of: "\(folder)/recovery_tmo").flatMap { Int($0) },
            devices: devices.values.filter { $0.sessionID == id }.map(\.name).sorted(by: Self.kernelOrder))
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
        (try? FileManager.default.contentsOfDirectory(atPath: path(relative))) ?? []
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

/// A disk's identity (name, H:C:T:L, session, major:minor, vendor, model) by the sysfs link of
/// its block device, `../devices/…/hostH/sessionN/targetH:C:T/H:C:T:L/block/sdX`: while that link
/// is the same, the disk is the same SCSI device on the same session (a disk removed and added
/// again at the same H:C:T:L under the same name is the same target's LUN: the same array), so
/// only its state needs reading. The daemon's full scan reads 128 disks every 10 s at 64 LUNs.
public final class DiskIdentityCache: Sendable {
    private let disks = Mutex<[String: SCSIDevice]>([:])

    /// An empty cache.
    public init() {}

    func disk(link: String) -> SCSIDevice? { disks.withLock { $0[link] } }

    func remember(_ disk: SCSIDevice, link: String) {
        disks.withLock { disks in
            // a bound on what removed disks leave behind
            if disks.count > 65_536 { disks.removeAll() }
            disks[link] = disk
        }
    }
}
