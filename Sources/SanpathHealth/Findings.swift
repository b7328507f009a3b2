import Foundation
import SanpathSite

/// What is wrong (or worth knowing), as a pure function of the site and a snapshot.
public struct Finding: Sendable, Hashable, Codable {
    /// What kind of problem.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// A path the kernel failed, or whose disk is offline, while its session is up.
        case pathLost = "path-lost"
        /// An iSCSI session is down (recovery timed out: FREE, or FAILED with failed paths).
        case sessionDown = "session-down"
        /// A map has fewer valid paths than the site's paths.
        case mapDegraded = "map-degraded"
        /// A map has no valid path: I/O queues or fails.
        case mapNoPath = "map-no-path"
        /// A map has more paths than the site has (paths of different LUNs merged, e.g. a WWID clash).
        case mapTooManyPaths = "map-too-many-paths"
        /// Every path of a map goes through one NIC although the site has several.
        case singleNIC = "single-nic"
        /// Every path of a map goes to one portal although the site has several.
        case singlePortal = "single-portal"
        /// A NIC the site uses is down.
        case nicDown = "nic-down"
        /// The site's iface has no iface file, or the file binds no NIC.
        case ifaceUnbound = "iface-unbound"
        /// The iface file binds another NIC than STORAGE_INTERFACES says.
        case ifaceWrongNIC = "iface-wrong-nic"
        /// A session runs over another NIC than its iface's.
        case sessionWrongNetdev = "session-wrong-netdev"
        /// A portal did not answer a TCP probe through its path's NIC.
        case portalUnreachable = "portal-unreachable"
        /// A SAN management host did not answer.
        case sanHostUnreachable = "san-host-unreachable"
        /// No SAN management host answers.
        case allSANHostsUnreachable = "all-san-hosts-unreachable"
        /// Eucalyptus would use another SAN management host than its first.
        case sanHostFailover = "san-host-failover"
        /// The managed files differ from what the profile wants.
        case configDrift = "config-drift"
        /// multipathd does not answer on its socket: no path checker runs, so a failed path never
        /// comes back and a new one is never added.
        case multipathdDown = "multipathd-down"
    }

    /// What kind.
    public var kind: Kind
    /// How bad.
    public var severity: Severity
    /// What it is about (`sdb`, `mpatha`, `eth1`, `10.0.0.1:3260`), unique per kind.
    public var subject: String
    /// One line for a person.
    public var summary: String
    /// Maps concerned.
    public var maps: [String]
    /// Paths concerned.
    public var paths: [PathRef]

    /// Creates a finding.
    public init(kind: Kind, severity: Severity, subject: String, summary: String, maps: [String] = [], paths: [PathRef] = []) {
        self.kind = kind
        self.severity = severity
        self.subject = subject
        self.summary = summary
        self.maps = maps
        self.paths = paths
    }
}

/// Evaluates a snapshot against the site.
public struct HealthModel: Sendable {
    /// The site the host is configured for.
    public let site: Site
    /// Failed probes in a row before a SAN host or portal counts as unreachable.
    public var probeFailures: Int
    /// How long Eucalyptus skips a SAN host after a failure.
    public var sanHostFailureMemory: TimeInterval = 300

    /// The addresses each portal host name of the site resolves to (sysfs reports sessions by
    /// address only); a literal address, or a name missing here, stands for itself.
    public var portalAddresses: [String: [String]]

    /// Creates the model.
    public init(site: Site, probeFailures: Int = 2, portalAddresses: [String: [String]] = [:]) {
        self.site = site
        self.probeFailures = probeFailures
        self.portalAddresses = portalAddresses
    }

    /// Site portals as `address:port` strings, host names resolved.
    var sitePortals: Set<String> {
        Set(site.paths.flatMap { path in
            (portalAddresses[path.portal.host].flatMap { $0.isEmpty ? nil : $0 } ?? [path.portal.host]).map {
                PortalAddress(host: $0, port: path.portal.port).description
            }
        })
    }

    /// A path of a map described with its session, iface, NIC and portal.
    public func pathRef(_ path: MapPath, map: MultipathMap, in snapshot: Snapshot) -> PathRef {
        let device = path.device ?? path.majorMinor
        let session = path.device.flatMap { snapshot.session(of: $0) }
        return PathRef(
            device: device, map: map.name, iface: session?.iface, nic: session?.netdev, portal: session?.portal,
            target: session?.target)
    }

    /// Whether a map is one of the site's: one of its paths has a session to a site portal.
    public func isSiteMap(_ map: MultipathMap, in snapshot: Snapshot) -> Bool {
        map.paths.contains { path in
            guard let portal = path.device.flatMap({ snapshot.session(of: $0) })?.portal else { return false }
            return sitePortals.contains(portal)
        }
    }

    /// Paths each site map should have: one per site path.
    public var expectedPathsPerMap: Int { site.paths.count }

    /// Whether a session is down for alerting: recovery gave up (FREE), or it is FAILED and dm has
    /// already failed a path on it. A session that is only FAILED is still recovering.
    func sessionDown(_ session: ISCSISession, failedDevices: Set<String>) -> Bool {
        if session.state == "FREE" { return true }
        if session.state == "FAILED" { return session.devices.contains { failedDevices.contains($0) } }
        return false
    }

    /// Whether a path is lost: failed in the kernel, or its disk offline. multipathd's checker
    /// alone is not enough: multipathd fails a faulty path in the kernel at once, so "faulty" on a
    /// path the kernel has active is multipathd not having checked it again yet (seen in the lab:
    /// a path reinstated in dm read faulty for up to a polling interval, and its alert fired again).
    public func isLost(_ path: MapPath, in snapshot: Snapshot) -> Bool {
        if path.kernelState == .failed { return true }
        if let device = path.device, let state = snapshot.scsiDevices[device]?.state,
            state == "offline" || state == "transport-offline"
        {
            return true
        }
        return false
    }

    /// Every finding, sorted by severity (worst first), then kind and subject.
    public func findings(_ snapshot: Snapshot) -> [Finding] {
        var out: [Finding] = []
        let expected = expectedPathsPerMap
        var failedDevices = Set<String>()
        for map in snapshot.maps {
            for path in map.paths where isLost(path, in: snapshot) {
                if let device = path.device { failedDevices.insert(device) }
            }
        }
        let downSessions = snapshot.sessions.filter { sessionDown($0, failedDevices: failedDevices) }
        let downSessionIDs = Set(downSessions.map(\.id))
        let siteNICs = Set(site.interfaces.map(\.nic))

        // sessions, with every path they carry
        for session in downSessions {
            let paths = snapshot.maps.flatMap { map in
                map.paths.filter { $0.device.map(session.devices.contains) ?? false }.map { pathRef($0, map: map, in: snapshot) }
            }
            out.append(
                Finding(
                    kind: .sessionDown, severity: .warning, subject: "session\(session.id)",
                    summary: "iSCSI session \(session.id) to \(session.portal ?? "?") (\(session.target)) via \(session.iface ?? "-")/\(session.netdev ?? "-") is \(session.state)",
                    maps: Array(Set(paths.compactMap(\.map))).sorted(), paths: paths.sorted()))
        }

        for map in snapshot.maps {
            let refs = map.paths.map { pathRef($0, map: map, in: snapshot) }
            for (path, ref) in zip(map.paths, refs) where isLost(path, in: snapshot) {
                if let id = path.device.flatMap({ snapshot.scsiDevices[$0]?.sessionID }), downSessionIDs.contains(id) { continue }
                let why =
                    path.kernelState == .failed
                    ? "failed in the kernel (fail count \(path.failCount))"
                    : "disk \(snapshot.scsiDevices[path.device ?? ""]?.state ?? "offline")"
                out.append(
                    Finding(
                        kind: .pathLost, severity: .warning, subject: ref.device,
                        summary: "path \(ref.description) is \(why)", maps: [map.name], paths: [ref]))
            }
            let siteMap = isSiteMap(map, in: snapshot)
            let valid = map.validPaths
            if valid == 0 {
                out.append(
                    Finding(
                        kind: .mapNoPath, severity: .critical, subject: map.name,
                        summary: "\(map.name) (\(map.wwid)) has no valid path left"
                            + (map.queueing ? "; I/O is queued" : "; I/O fails"), maps: [map.name], paths: refs))
            } else if siteMap, valid < expected {
                out.append(
                    Finding(
                        kind: .mapDegraded, severity: .warning, subject: map.name,
                        summary: "\(map.name) has \(valid) of \(expected) paths", maps: [map.name], paths: refs))
            }
            if siteMap, map.paths.count > expected {
                out.append(
                    Finding(
                        kind: .mapTooManyPaths, severity: .warning, subject: map.name,
                        summary: "\(map.name) has \(map.paths.count) paths but the site has \(expected): paths of different LUNs may share one WWID",
                        maps: [map.name], paths: refs))
            }
            if siteMap, map.paths.count >= 2 {
                let nics = Set(refs.compactMap(\.nic))
                if siteNICs.count >= 2, nics.count == 1 {
                    out.append(
                        Finding(
                            kind: .singleNIC, severity: .warning, subject: map.name,
                            summary: "every path of \(map.name) goes through \(nics.first!): one NIC failure takes it down",
                            maps: [map.name], paths: refs))
                }
                let portals = Set(refs.compactMap(\.portal))
                if sitePortals.count >= 2, portals.count == 1 {
                    out.append(
                        Finding(
                            kind: .singlePortal, severity: .warning, subject: map.name,
                            summary: "every path of \(map.name) goes to \(portals.first!): one portal failure takes it down",
                            maps: [map.name], paths: refs))
                }
            }
        }

        for nicName in siteNICs.sorted() {
            guard let nic = snapshot.nics[nicName] else {
                out.append(Finding(kind: .nicDown, severity: .warning, subject: nicName, summary: "NIC \(nicName) does not exist"))
                continue
            }
            if !nic.isUp {
                out.append(
                    Finding(
                        kind: .nicDown, severity: .warning, subject: nicName,
                        summary: "NIC \(nicName) is down (operstate \(nic.operstate)\(nic.carrier == false ? ", no carrier" : ""))"))
            }
        }

        for binding in site.ifacesInUse {
            guard let file = snapshot.ifaces.first(where: { $0.name == binding.iface }) else {
                out.append(
                    Finding(
                        kind: .ifaceUnbound, severity: .warning, subject: binding.iface,
                        summary: "iface \(binding.iface) has no open-iscsi iface file: its sessions use the default route, not \(binding.nic)"))
                continue
            }
            if let bound = file.netIfaceName {
                if bound != binding.nic {
                    out.append(
                        Finding(
                            kind: .ifaceWrongNIC, severity: .warning, subject: binding.iface,
                            summary: "iface \(binding.iface) is bound to \(bound), but STORAGE_INTERFACES maps it to \(binding.nic)"))
                }
            } else if file.hwAddress == nil {
                out.append(
                    Finding(
                        kind: .ifaceUnbound, severity: .warning, subject: binding.iface,
                        summary: "iface \(binding.iface) binds no NIC (iface.net_ifacename is empty)"))
            }
        }
        for session in snapshot.sessions where session.isLoggedIn {
            guard let iface = session.iface, let wanted = site.nic(forIface: iface), let netdev = session.netdev,
                netdev != wanted
            else { continue }
            out.append(
                Finding(
                    kind: .sessionWrongNetdev, severity: .warning, subject: "session\(session.id)",
                    summary: "session \(session.id) to \(session.portal ?? "?") uses iface \(iface) but runs over \(netdev), not \(wanted)"))
        }

        for probe in snapshot.portalProbes where !probe.reachable && probe.consecutiveFailures >= probeFailures {
            out.append(
                Finding(
                    kind: .portalUnreachable, severity: .warning, subject: probe.portal,
                    summary: "portal \(probe.portal) does not answer through \(probe.nic) (\(probe.consecutiveFailures) probes in a row)"))
        }

        // nil: not asked (no socket client, or the daemon has not asked yet); only an answer missing counts
        if snapshot.multipathdRunning == false {
            out.append(
                Finding(
                    kind: .multipathdDown, severity: .critical, subject: "multipathd",
                    summary: "multipathd is not running (no answer on its socket): failed paths are not checked or reinstated and new paths are not added; start it with systemctl start multipathd"))
        }
        out += sanHostFindings(snapshot)
        if let drifted = snapshot.driftedFiles, !drifted.isEmpty {
            out.append(
                Finding(
                    kind: .configDrift, severity: .warning, subject: "config",
                    summary: "\(drifted.joined(separator: ", ")) differ from the \(site.vendor.rawValue) \(site.role.rawValue) profile (run sanpath plan)"))
        }
        return out.sorted {
            ($0.severity, $1.kind.rawValue, $1.subject) > ($1.severity, $0.kind.rawValue, $0.subject)
        }
    }

    /// The host Eucalyptus would use now: the first, in its sorted order, that has not failed in
    /// the last five minutes.
    public func activeSANHost(_ snapshot: Snapshot) -> SANHostState? {
        let order = site.sanHostsInEucalyptusOrder.map(\.host)
        let states = snapshot.sanHosts.sorted { (order.firstIndex(of: $0.host) ?? .max) < (order.firstIndex(of: $1.host) ?? .max) }
        return states.first { state in
            guard state.reachable != false else { return false }
            guard let failed = state.lastFailure else { return true }
            return snapshot.time.timeIntervalSince(failed) > sanHostFailureMemory
        }
    }

    func sanHostFindings(_ snapshot: Snapshot) -> [Finding] {
        guard !snapshot.sanHosts.isEmpty else { return [] }
        var out: [Finding] = []
        let down = snapshot.sanHosts.filter { $0.reachable == false && $0.consecutiveFailures >= probeFailures }
        if down.count == snapshot.sanHosts.count {
            out.append(
                Finding(
                    kind: .allSANHostsUnreachable, severity: .critical, subject: "san",
                    summary: "no SAN management host answers (\(down.map { "\($0.host):\($0.port)" }.joined(separator: ", "))): volume operations will fail"))
            return out
        }
        for host in down {
            out.append(
                Finding(
                    kind: .sanHostUnreachable, severity: .warning, subject: host.host,
                    summary: "SAN management host \(host.host):\(host.port) does not answer (\(host.consecutiveFailures) probes in a row)"))
        }
        let first = site.sanHostsInEucalyptusOrder.first?.host
        if let active = activeSANHost(snapshot), let first, active.host != first {
            out.append(
                Finding(
                    kind: .sanHostFailover, severity: .warning, subject: active.host,
                    summary: "SAN management failed over from \(first) to \(active.host)"))
        }
        return out
    }
}
