#if os(Linux)
import CLibDevmapper
import CSanpathShims
import Foundation
import Logging
import SanpathCore
import Synchronization

/// The one executor every libdevmapper call runs on: libdevmapper keeps global state (the control
/// fd, the log function) and is not thread-safe.
@globalActor
public actor DeviceMapperActor {
    /// The shared instance.
    public static let shared = DeviceMapperActor()
}

/// The kernel's device-mapper through libdevmapper (`DM_DEVICE_LIST`, `DM_DEVICE_STATUS`,
/// `DM_DEVICE_TABLE`), read-only. libdevmapper's own messages go to the `Logger`, not stderr.
///
/// Every call first checks `/sys/class/misc/device-mapper`: without it libdevmapper would try to
/// create `/dev/mapper/control` by hand, so sanpath refuses instead.
public struct LibDevmapper: DeviceMapperSource {
    /// The sysfs node of the device-mapper misc device; present when the kernel has device-mapper.
    public static let controlSysfsPath = "/sys/class/misc/device-mapper"

    /// Whether this kernel has device-mapper.
    public static var isAvailable: Bool { FileManager.default.fileExists(atPath: controlSysfsPath) }

    /// Creates the source; `logger` receives libdevmapper's messages (errors as `.error`, its debug as `.trace`).
    public init(logger: Logger) {
        DeviceMapperLog.route(to: logger)
    }

    /// Every device whose (first) target is `multipath`, with UUID, major:minor and open count,
    /// sorted by name (the kernel lists in hash order). One `DM_DEVICE_STATUS` per device gives
    /// its target type and, through `dm_task_get_info`, what `DM_DEVICE_INFO` would.
    @DeviceMapperActor
    public func multipathDevices() async throws -> [DMDevice] {
        try Self.prepare()
        var devices: [DMDevice] = []
        for name in try Self.deviceNames() {
            if let (device, _) = Self.multipathStatus(of: name) { devices.append(device) }
        }
        return devices
    }

    /// Every multipath map with its status and table: the list, then per device one
    /// `DM_TABLE_STATUS` for its status (target type, identity, status) and one for its table, in
    /// one hop to the device-mapper actor (two ioctls a map; the full scan's device-mapper part).
    /// Straight ioctls on `/dev/mapper/control` with one reused buffer (`DMControl`); through
    /// libdevmapper's tasks when that cannot be opened. Every 8 maps it lets other callers in: an
    /// event's refresh must not wait for the whole scan.
    @DeviceMapperActor
    public func multipathMaps() async throws -> [DMMapReading] {
        try Self.prepare()
        var readings: [DMMapReading] = []
        let control = DMControl.shared
        for (index, name) in try (control?.deviceNames() ?? Self.deviceNames()).enumerated() {
            if index % 8 == 7 { await Task.yield() }
            if let control {
                do {
                    guard let (device, status) = try control.multipathStatus(of: name) else { continue }
                    readings.append(DMMapReading(device: device, status: status, table: try control.multipathParams(of: name, table: true)))
                } catch let error as SanpathError where error.code == .mapNotFound {
                    DeviceMapperLog.logger.debug("device vanished during the scan", metadata: ["map": "\(name)"])
                }
                continue
            }
            guard let (device, status) = Self.multipathStatus(of: name) else { continue }
            let table: String
            do {
                table = try Self.multipathParams(DM_DEVICE_TABLE, "DM_DEVICE_TABLE", of: name)
            } catch let error as SanpathError where error.code == .mapNotFound {
                continue
            }
            readings.append(DMMapReading(device: device, status: status, table: table))
        }
        return readings
    }

    /// One `DM_DEVICE_STATUS`: the device's identity (through `dm_task_get_info`, what
    /// `DM_DEVICE_INFO` would give) and its status parameters; nil when it is not a multipath map
    /// or was removed since the list (not an error: it is simply not there any more).
    @DeviceMapperActor
    private static func multipathStatus(of name: String) -> (DMDevice, String)? {
        guard let task = try? DMTask(DM_DEVICE_STATUS, "DM_DEVICE_STATUS", name: name), (try? task.run()) != nil,
            let info = task.info(), info.exists != 0
        else {
            DeviceMapperLog.logger.debug("device vanished during the scan", metadata: ["map": "\(name)"])
            return nil
        }
        guard let target = task.targets().first, target.type == "multipath" else { return nil }
        let device = DMDevice(name: name, uuid: task.uuid ?? "", majorMinor: "\(info.major):\(info.minor)", openCount: Int(info.open_count))
        return (device, target.params)
    }

    @DeviceMapperActor
    private static func deviceNames() throws -> [String] {
        let list = try DMTask(DM_DEVICE_LIST, "DM_DEVICE_LIST", name: nil)
        try list.run()
        var names: [String] = []
        var entry = sanpath_dm_names_first(list.handle)
        while let current = entry {
            names.append(String(cString: sanpath_dm_names_name(current)))
            entry = sanpath_dm_names_next(current)
        }
        return names.sorted()
    }

    /// The multipath status parameters of a map.
    @DeviceMapperActor
    public func status(of name: String) async throws -> String {
        try Self.prepare()
        if let control = DMControl.shared { return try control.multipathParams(of: name, table: false) }
        return try Self.multipathParams(DM_DEVICE_STATUS, "DM_DEVICE_STATUS", of: name)
    }

    /// The multipath table parameters of a map.
    @DeviceMapperActor
    public func table(of name: String) async throws -> String {
        try Self.prepare()
        if let control = DMControl.shared { return try control.multipathParams(of: name, table: true) }
        return try Self.multipathParams(DM_DEVICE_TABLE, "DM_DEVICE_TABLE", of: name)
    }

    @DeviceMapperActor
    private static func prepare() throws {
        guard isAvailable else {
            throw SanpathError(
                .kernelFeatureMissing,
                "this kernel has no device-mapper (\(controlSysfsPath) is absent): load the dm_mod and dm_multipath "
                    + "modules ('modprobe dm_multipath') or run sanpath where dm-multipath is in use")
        }
        DeviceMapperLog.attachOnce()
    }

    @DeviceMapperActor
    private static func multipathParams(_ type: Int, _ typeName: String, of name: String) throws -> String {
        let task = try DMTask(type, typeName, name: name)
        try task.run()
        guard let info = task.info(), info.exists != 0 else {
            throw SanpathError(.mapNotFound, "device-mapper has no map named '\(name)' (removed, or never created)")
        }
        guard let target = task.targets().first(where: { $0.type == "multipath" }) else {
            throw SanpathError(.mapNotFound, "device-mapper device '\(name)' is not a multipath map (no multipath target)")
        }
        return target.params
    }
}

/// `/dev/mapper/control` opened once (never created: `prepare()` has checked that the kernel has
/// device-mapper, and udev or devtmpfs made the node), with one buffer every read-only ioctl of
/// the scan reuses: `DM_LIST_DEVICES` and `DM_TABLE_STATUS` (status, or table), the same ioctls
/// libdevmapper's list, status and table tasks make, without a task, a zeroed 16 KiB buffer and a
/// copy of every target per call. nil when the node cannot be opened: libdevmapper then.
@DeviceMapperActor
final class DMControl {
    /// The one instance; nil when `/dev/mapper/control` cannot be opened.
    static let shared: DMControl? = {
        let fd = sanpath_dm_control_open()
        guard fd >= 0 else {
            DeviceMapperLog.logger.debug("cannot open /dev/mapper/control; reading device-mapper through libdevmapper", metadata: ["errno": "\(-fd)"])
            return nil
        }
        return DMControl(fd: fd)
    }()

    let fd: Int32
    private(set) var buffer: UnsafeMutableRawPointer
    /// The buffer's size.
    private var capacity: UInt32 = 16 * 1024
    /// The data area the last call offered the kernel: what the reply in the buffer may span.
    private(set) var size: UInt32 = 16 * 1024
    /// The data area each kind of call offers, grown when the kernel says it was too small. The
    /// kernel copies a DM_TABLE_STATUS's whole data area in (and allocates it) before it writes
    /// the reply, so a map's status or table (a few hundred bytes for a few paths) offers 2 KiB,
    /// not the list's 16 KiB: 128 calls a scan at 64 maps.
    private var offered: [Bool: UInt32] = [true: 16 * 1024, false: 2 * 1024]

    private init(fd: Int32) {
        self.fd = fd
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Int(capacity), alignment: 8)
    }

    /// Runs `call` on the buffer, offering the kernel a data area that doubles while the kernel
    /// says it was too small (a map of many paths, a host of many devices); `list` is the device
    /// list, which is offered more; throws what the ioctl's errno means.
    private func run(_ what: String, name: String?, list: Bool = false, _ call: (UnsafeMutableRawPointer, UInt32) -> Int32) throws {
        while true {
            size = offered[list, default: capacity]
            let rc = call(buffer, size)
            if rc == 0 { return }
            if rc == 1, size < 64 * 1024 * 1024 {
                offered[list] = size * 2
                if size * 2 > capacity {
                    buffer.deallocate()
                    capacity = size * 2
                    buffer = UnsafeMutableRawPointer.allocate(byteCount: Int(capacity), alignment: 8)
                }
                continue
            }
            let code = -rc
            if code == ENXIO || code == ENODEV {
                throw SanpathError(.mapNotFound, "device-mapper has no map named '\(name ?? "")' (removed, or never created)")
            }
            let reason = rc == 1 ? "the reply does not fit 64 MiB" : String(cString: strerror(code))
            let hint = code == EACCES || code == EPERM ? "; reading device-mapper needs root" : ""
            throw SanpathError(.deviceMapper, "device-mapper \(what)\(name.map { " for '\($0)'" } ?? "") failed: \(reason)\(hint)")
        }
    }

    /// Every device's name, sorted (the kernel lists in hash order).
    func deviceNames() throws -> [String] {
        try run("DM_LIST_DEVICES", name: nil, list: true) { sanpath_dm_list(fd, $0, $1) }
        var names: [String] = []
        var cursor: UInt32 = 0
        while let name = sanpath_dm_list_next(buffer, size, &cursor) { names.append(String(cString: name)) }
        return names.sorted()
    }

    /// The first target's type and parameters of the reply in the buffer.
    private func firstTarget() -> (type: String, params: String)? {
        var type: UnsafePointer<CChar>? = nil
        var params: UnsafePointer<CChar>? = nil
        guard sanpath_dm_target(buffer, size, 0, &type, &params) == 0, let type, let params else { return nil }
        return (String(cString: type), String(cString: params))
    }

    /// One `DM_TABLE_STATUS` (status): the device's identity and its status parameters; nil when it
    /// is not a multipath map; `.mapNotFound` when it was removed since the list.
    func multipathStatus(of name: String) throws -> (DMDevice, String)? {
        try run("DM_TABLE_STATUS", name: name) { sanpath_dm_table_status(fd, name, 0, $0, $1) }
        var info = sanpath_dm_info()
        sanpath_dm_info_of(buffer, &info)
        guard let target = firstTarget(), target.type == "multipath" else { return nil }
        let uuid = info.uuid.map { String(cString: $0) } ?? ""
        return (DMDevice(name: name, uuid: uuid, majorMinor: "\(info.major):\(info.minor)", openCount: Int(info.open_count)), target.params)
    }

    /// The multipath status (`table` false) or table parameters of a map.
    func multipathParams(of name: String, table: Bool) throws -> String {
        try run("DM_TABLE_STATUS", name: name) { sanpath_dm_table_status(fd, name, table ? 1 : 0, $0, $1) }
        var info = sanpath_dm_info()
        sanpath_dm_info_of(buffer, &info)
        guard let target = firstTarget(), target.type == "multipath" else {
            throw SanpathError(.mapNotFound, "device-mapper device '\(name)' is not a multipath map (no multipath target)")
        }
        return target.params
    }
}

/// One `struct dm_task`, destroyed with its owner.
final class DMTask {
    let handle: OpaquePointer
    let typeName: String
    let name: String?

    init(_ type: Int, _ typeName: String, name: String?) throws {
        guard let handle = dm_task_create(Int32(type)) else {
            throw SanpathError(.deviceMapper, "libdevmapper could not create a \(typeName) task (out of memory?)")
        }
        self.handle = handle
        self.typeName = typeName
        self.name = name
        if let name, dm_task_set_name(handle, name) == 0 {
            throw SanpathError(.deviceMapper, "libdevmapper rejected the map name '\(name)' for \(typeName)")
        }
    }

    deinit { dm_task_destroy(handle) }

    /// Runs the ioctl; a missing device is `.mapNotFound`, anything else `.deviceMapper` with libdevmapper's last message.
    func run() throws {
        DeviceMapperLog.shared.withLock { $0.lastError = nil }
        guard dm_task_run(handle) == 0 else { return }
        let code = dm_task_get_errno(handle)
        let said = DeviceMapperLog.shared.withLock { $0.lastError }
        let subject = name.map { " for '\($0)'" } ?? ""
        if code == ENXIO || code == ENODEV {
            throw SanpathError(.mapNotFound, "device-mapper has no map named '\(name ?? "")' (removed, or never created)")
        }
        let reason = said ?? (code != 0 ? String(cString: strerror(code)) : "no reason given")
        let hint = code == EACCES || code == EPERM ? "; reading device-mapper needs root" : ""
        throw SanpathError(.deviceMapper, "device-mapper \(typeName)\(subject) failed: \(reason)\(hint)")
    }

    func info() -> dm_info? {
        var info = dm_info()
        return dm_task_get_info(handle, &info) != 0 ? info : nil
    }

    var uuid: String? {
        guard let uuid = dm_task_get_uuid(handle) else { return nil }
        return String(cString: uuid)
    }

    /// Target type and parameters of every target of the table (STATUS or TABLE) the task read.
    func targets() -> [(type: String, params: String)] {
        var result: [(type: String, params: String)] = []
        var next: UnsafeMutableRawPointer? = nil
        repeat {
            var start: UInt64 = 0
            var length: UInt64 = 0
            var type: UnsafeMutablePointer<CChar>? = nil
            var params: UnsafeMutablePointer<CChar>? = nil
            next = dm_get_next_target(handle, next, &start, &length, &type, &params)
            if let type { result.append((String(cString: type), params.map { String(cString: $0) } ?? "")) }
        } while next != nil
        return result
    }
}

/// Where libdevmapper's messages go: a swift-log `Logger`, and the last error for the next thrown error.
struct DeviceMapperLog: Sendable {
    var logger = Logger(label: "sanpath.devmapper")
    var lastError: String?
    var attached = false

    static let shared = Mutex(DeviceMapperLog())

    static var logger: Logger { shared.withLock { $0.logger } }

    /// Sends formatted messages to `logger` (no libdevmapper call yet).
    static func route(to logger: Logger) {
        shared.withLock { $0.logger = logger }
        sanpath_dm_log_set_receiver(receive)
    }

    /// Points libdevmapper's log at the shim (once, after the device-mapper check, before the first ioctl).
    static func attachOnce() {
        let attach = shared.withLock { state in
            defer { state.attached = true }
            return !state.attached
        }
        if attach { sanpath_dm_log_attach() }
    }

    /// The shim's non-variadic receiver.
    static let receive: sanpath_dm_log_fn = { level, file, line, errnoOrClass, message in
        let text = message.map { String(cString: $0) } ?? ""
        let source = file.map { String(cString: $0) } ?? "libdevmapper"
        let logLevel: Logger.Level
        switch level {
        case ...SANPATH_DM_LOG_ERR: logLevel = .error
        case SANPATH_DM_LOG_WARN: logLevel = .warning
        case SANPATH_DM_LOG_NOTICE: logLevel = .notice
        case SANPATH_DM_LOG_INFO: logLevel = .debug
        default: logLevel = .trace
        }
        let logger = DeviceMapperLog.shared.withLock { state in
            if logLevel >= .error { state.lastError = text }
            return state.logger
        }
        var metadata: Logger.Metadata = ["dm_source": "\(source):\(line)"]
        if logLevel >= .error, errnoOrClass != 0 { metadata["errno"] = "\(errnoOrClass)" }
        logger.log(level: logLevel, "\(text)", metadata: metadata)
    }
}
#endif
