import Foundation
import SanpathCore
import SanpathHealth
import SanpathSite

/// Snapshots shaped like the lab guest's (shared/lab/examples/demo-states.txt): portal A
/// 192.0.2.2 reached through iface0/ini0, portal B 198.51.100.2 through iface1/ini1, one target
/// per LUN or one target for all, sd disks numbered as the kernel does.
struct LabHost {
    static let portalA = "192.0.2.2:3260"
    static let portalB = "198.51.100.2:3260"

    static let site: Site = {
        let here = SourceLocation(source: "test")
        return Site(
            vendor: .equallogic, role: .nc,
            paths: [
                ISCSIPath(iface: "iface0", portal: PortalAddress(host: "192.0.2.2"), location: here),
                ISCSIPath(iface: "iface1", portal: PortalAddress(host: "198.51.100.2"), location: here),
            ],
            sanHosts: [SANHost(host: "10.9.0.2", location: here), SANHost(host: "10.9.0.1", location: here)],
            interfaces: [
                InterfaceBinding(iface: "iface0", nic: "ini0", location: here),
                InterfaceBinding(iface: "iface1", nic: "ini1", location: here),
            ])
    }()

    var luns: Int
    /// One target per LUN (EqualLogic's way) instead of one target for all.
    var targetPerLUN = false
    var snapshot = Snapshot(time: Date(timeIntervalSince1970: 1_800_000_000))

    init(luns: Int, targetPerLUN: Bool = false) {
        self.luns = luns
        self.targetPerLUN = targetPerLUN
        let targets = targetPerLUN ? luns : 1
        var sessions: [ISCSISession] = []
        for t in 0..<targets {
            let target = "iqn.2003-01.org.linux-iscsi.lab:target\(t)"
            sessions.append(
                ISCSISession(
                    id: 2 * t + 1, target: target, portalAddress: "198.51.100.2", portalPort: 3260, iface: "iface1", netdev: "ini1",
                    state: "LOGGED_IN", recoveryTmo: 5))
            sessions.append(
                ISCSISession(
                    id: 2 * t + 2, target: target, portalAddress: "192.0.2.2", portalPort: 3260, iface: "iface0", netdev: "ini0",
                    state: "LOGGED_IN", recoveryTmo: 5))
        }
        var maps: [MultipathMap] = []
        var disks: [String: SCSIDevice] = [:]
        for lun in 0..<luns {
            let t = targetPerLUN ? lun : 0
            let b = LabHost.disk(2 * lun), a = LabHost.disk(2 * lun + 1)
            disks[b.name] = SCSIDevice(name: b.name, majorMinor: b.mm, state: "running", vendor: "EQLOGIC", model: "100E-00", sessionID: 2 * t + 1)
            disks[a.name] = SCSIDevice(name: a.name, majorMinor: a.mm, state: "running", vendor: "EQLOGIC", model: "100E-00", sessionID: 2 * t + 2)
            sessions[2 * t].devices.append(b.name)
            sessions[2 * t + 1].devices.append(a.name)
            maps.append(
                MultipathMap(
                    name: "mpath" + String(UnicodeScalar(UInt8(97 + lun))), wwid: String(format: "36001405ab5e1ab00%015x", lun),
                    sysfsName: "dm-\(lun)", groups: [
                        PathGroup(
                            state: .active, selector: "round-robin 0",
                            paths: [
                                MapPath(majorMinor: b.mm, device: b.name, kernelState: .active),
                                MapPath(majorMinor: a.mm, device: a.name, kernelState: .active),
                            ])
                    ]))
        }
        snapshot.maps = maps
        snapshot.scsiDevices = disks
        snapshot.sessions = sessions
        snapshot.ifaces = [IfaceFile(name: "iface0", netIfaceName: "ini0", transport: "tcp"), IfaceFile(name: "iface1", netIfaceName: "ini1", transport: "tcp")]
        snapshot.nics = ["ini0": NIC(name: "ini0", operstate: "up", carrier: true), "ini1": NIC(name: "ini1", operstate: "up", carrier: true)]
        snapshot.sanHosts = [
            SANHostState(host: "10.9.0.1", port: 22, reachable: true, latency: 0.001),
            SANHostState(host: "10.9.0.2", port: 22, reachable: true, latency: 0.002),
        ]
    }

    /// sda, sdb, … with their major:minor.
    static func disk(_ index: Int) -> (name: String, mm: String) {
        var name = ""
        var n = index
        repeat {
            name = String(UnicodeScalar(UInt8(97 + n % 26))) + name
            n = n / 26 - 1
        } while n >= 0
        return ("sd" + name, "8:\(index * 16)")
    }

    /// dm fails every path whose disk is in `devices`.
    mutating func failInDM(_ devices: Set<String>) {
        for m in snapshot.maps.indices {
            for g in snapshot.maps[m].groups.indices {
                for p in snapshot.maps[m].groups[g].paths.indices where devices.contains(snapshot.maps[m].groups[g].paths[p].device ?? "") {
                    snapshot.maps[m].groups[g].paths[p].kernelState = .failed
                    snapshot.maps[m].groups[g].paths[p].failCount += 1
                }
            }
        }
    }

    /// The portal's sessions time out (nftables drop): sessions FREE, disks transport-offline, dm F.
    mutating func cut(portal: String) {
        var devices = Set<String>()
        for i in snapshot.sessions.indices where snapshot.sessions[i].portal == portal {
            snapshot.sessions[i].state = "FREE"
            devices.formUnion(snapshot.sessions[i].devices)
        }
        for d in devices { snapshot.scsiDevices[d]?.state = "transport-offline" }
        failInDM(devices)
    }

    /// The NIC goes down, and with it the sessions over it.
    mutating func linkDown(_ nic: String) {
        snapshot.nics[nic] = NIC(name: nic, operstate: "down", carrier: nil)
        for session in snapshot.sessions where session.netdev == nic { cut(portal: session.portal!) }
    }

    /// Devices of the sessions to a portal.
    func devices(to portal: String) -> Set<String> {
        Set(snapshot.sessions.filter { $0.portal == portal }.flatMap(\.devices))
    }
}
