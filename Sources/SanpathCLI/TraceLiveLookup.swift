import SanpathTrace
import SanpathVolume

/// The live half of a trace from the volume code: what this host still has for a target and LUN
/// (sessions, node records, the LUN's disks, the maps over them), read from sysfs and open-iscsi's
/// database like `sanpath volume list`.
struct VolumeHostLookup: VolumeConnectionsLookup {
    let host: VolumeHost

    func connections(target: String, lun: Int?) async -> LiveView {
        let devices = host.sysfs.scsiDevices()
        let sessions = host.sysfs.sessions(devices: devices).filter { $0.target == target }
        let ids = Set(sessions.map(\.id))
        let paths = devices.values.filter { disk in
            guard let id = disk.sessionID, ids.contains(id) else { return false }
            return lun.map { disk.hctl?.split(separator: ":").last == Substring(String($0)) } ?? true
        }.sorted { $0.name < $1.name }
        let names = Set(paths.map(\.name))
        let maps = VolumeLister(host: host).volumes().filter { volume in volume.paths.contains { names.contains($0.disk) } }
        let records = host.files.list("\(host.iscsiDatabase)/nodes/\(target)")
        return .seen(
            target: target, lun: lun,
            VolumeConnections(
                sessions: sessions.map { "session \($0.id) to \($0.portal ?? "?") via \($0.iface ?? "default")/\($0.netdev ?? "-"): \($0.state)" },
                maps: maps.map { "\($0.map) \($0.wwid) (\($0.dm))" },
                nodeRecords: records.map { "\(host.iscsiDatabase)/nodes/\(target)/\($0)" },
                paths: paths.map { "\($0.name) \($0.hctl ?? "?") \($0.state)" }))
    }
}
