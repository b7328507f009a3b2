import Foundation
import SanpathHealth
import SanpathSite
import Testing

let model = HealthModel(site: LabHost.site)

func alerts(_ host: LabHost) -> [AlertCandidate] {
    AlertGrouping.candidates(model.findings(host.snapshot), snapshot: host.snapshot, model: model)
}

@Suite struct FindingsAndGroupingTests {
    @Test func aHealthyHostHasNoFinding() {
        #expect(model.findings(LabHost(luns: 4).snapshot).isEmpty)
    }

    /// Cutting one path: exactly one alert, naming the path, its iface, NIC and portal.
    @Test func oneCutPathIsOneAlertNamingIfaceNICAndPortal() throws {
        var host = LabHost(luns: 1)
        host.cut(portal: LabHost.portalB)
        let all = alerts(host)
        #expect(all.count == 1, "\(all.map(\.key))")
        let alert = try #require(all.first)
        #expect(alert.paths == [PathRef(device: "sda", map: "mpatha", iface: "iface1", nic: "ini1", portal: LabHost.portalB, target: "iqn.2003-01.org.linux-iscsi.lab:target0")])
        #expect(alert.summary.contains("sda (mpatha) via iface1/ini1 to 198.51.100.2:3260"))
        #expect(alert.severity == .warning)
    }

    /// A NIC carrying paths of four maps: one alert, not four.
    @Test func aDeadNICIsOneAlertForEveryMap() throws {
        var host = LabHost(luns: 4)
        host.linkDown("ini1")
        let all = alerts(host)
        #expect(all.map(\.key) == ["nic-down:ini1"])
        #expect(all[0].maps == ["mpatha", "mpathb", "mpathc", "mpathd"])
        #expect(all[0].paths.count == 4)
        #expect(all[0].paths.allSatisfy { $0.nic == "ini1" && $0.portal == LabHost.portalB })
    }

    /// The NIC's alert names every path it carries, before dm has failed them all.
    @Test func aDeadNICNamesPathsDMHasNotFailedYet() {
        var host = LabHost(luns: 4)
        host.snapshot.nics["ini1"] = NIC(name: "ini1", operstate: "down", carrier: nil)
        host.failInDM(["sda"])
        let all = alerts(host)
        #expect(all.map(\.key) == ["nic-down:ini1"])
        #expect(all[0].paths.count == 4)
    }

    /// EqualLogic: one target (and session) per volume; every session to a portal down is the portal.
    @Test func everySessionToAPortalDownIsThePortal() {
        var host = LabHost(luns: 4, targetPerLUN: true)
        host.cut(portal: LabHost.portalB)
        #expect(alerts(host).map(\.key) == ["portal-unreachable:\(LabHost.portalB)"])
    }

    @Test func oneSessionOfManyIsASession() {
        var host = LabHost(luns: 4, targetPerLUN: true)
        // only target2's session to portal B dies
        let index = host.snapshot.sessions.firstIndex { $0.target.hasSuffix("target2") && $0.portal == LabHost.portalB }!
        host.snapshot.sessions[index].state = "FREE"
        host.failInDM(Set(host.snapshot.sessions[index].devices))
        #expect(alerts(host).map(\.key) == ["session-down:session\(host.snapshot.sessions[index].id)"])
    }

    /// A session still FAILED (recovering) with dm paths active is not an alert yet: no wolf.
    @Test func aRecoveringSessionIsNotAnAlert() {
        var host = LabHost(luns: 2)
        host.snapshot.sessions[0].state = "FAILED"
        for d in host.snapshot.sessions[0].devices { host.snapshot.scsiDevices[d]?.state = "blocked" }
        #expect(alerts(host).isEmpty)
    }

    /// dmsetup message fail_path: the session is up, the path alone is lost.
    @Test func aPathFailedInTheKernelAlone() {
        var host = LabHost(luns: 2)
        host.failInDM(["sdc"])
        #expect(alerts(host).map(\.key) == ["path-lost:sdc"])
        #expect(model.findings(host.snapshot).map(\.kind) == [.mapDegraded, .pathLost])
    }

    @Test func noPathLeftIsCritical() throws {
        var host = LabHost(luns: 2)
        host.cut(portal: LabHost.portalA)
        host.cut(portal: LabHost.portalB)
        let all = alerts(host)
        #expect(all.count == 2)
        #expect(all.allSatisfy { $0.severity == .critical })
        #expect(all.allSatisfy { $0.summary.contains("no path left on mpatha, mpathb") })
        let findings = model.findings(host.snapshot)
        #expect(findings.filter { $0.kind == .mapNoPath }.map(\.subject) == ["mpatha", "mpathb"])
    }

    @Test func aMissingPathWithoutALostOneIsADegradedMap() {
        var host = LabHost(luns: 1)
        host.snapshot.maps[0].groups[0].paths.removeLast()
        #expect(alerts(host).map(\.key) == ["map-degraded:mpatha"])
    }

    @Test func tooManyPathsMeansAWWIDClash() {
        var host = LabHost(luns: 2)
        host.snapshot.maps[0].groups[0].paths += host.snapshot.maps[1].groups[0].paths
        host.snapshot.maps.removeLast()
        #expect(model.findings(host.snapshot).contains { $0.kind == .mapTooManyPaths && $0.subject == "mpatha" })
    }

    @Test func ifaceBindingDrift() {
        var host = LabHost(luns: 1)
        host.snapshot.ifaces[1].netIfaceName = "ini0"
        host.snapshot.sessions[0].netdev = "ini0"
        let kinds = model.findings(host.snapshot).map(\.kind)
        #expect(kinds.contains(.ifaceWrongNIC))
        #expect(kinds.contains(.sessionWrongNetdev))
        #expect(kinds.contains(.singleNIC))
        host.snapshot.ifaces.removeFirst()
        #expect(model.findings(host.snapshot).contains { $0.kind == .ifaceUnbound && $0.subject == "iface0" })
    }

    /// Eucalyptus tries SAN hosts in sorted order: 10.9.0.1 first.
    @Test func sanHostFailoverAndLossOfAll() {
        var host = LabHost(luns: 1)
        host.snapshot.sanHosts[0] = SANHostState(host: "10.9.0.1", port: 22, reachable: false, lastFailure: host.snapshot.time, consecutiveFailures: 3)
        var kinds = model.findings(host.snapshot).map(\.kind)
        #expect(kinds.contains(.sanHostUnreachable))
        #expect(kinds.contains(.sanHostFailover))
        #expect(model.activeSANHost(host.snapshot)?.host == "10.9.0.2")
        host.snapshot.sanHosts[1] = SANHostState(host: "10.9.0.2", port: 22, reachable: false, lastFailure: host.snapshot.time, consecutiveFailures: 2)
        kinds = model.findings(host.snapshot).map(\.kind)
        #expect(kinds == [.allSANHostsUnreachable])
        // a single failed probe is not enough
        host.snapshot.sanHosts[1].consecutiveFailures = 1
        #expect(!model.findings(host.snapshot).map(\.kind).contains(.allSANHostsUnreachable))
    }

    @Test func portalProbeJoinsThePortalAlert() {
        var host = LabHost(luns: 1)
        host.snapshot.portalProbes = [PortalProbe(portal: LabHost.portalB, nic: "ini1", reachable: false, consecutiveFailures: 3)]
        #expect(alerts(host).map(\.key) == ["portal-unreachable:\(LabHost.portalB)"])
        host.cut(portal: LabHost.portalB)
        #expect(alerts(host).map(\.key) == ["portal-unreachable:\(LabHost.portalB)"])
    }

    /// The probe through a dead NIC fails too: still the NIC's one alert (seen in the lab, where
    /// the probe failed before the resync saw the NIC down).
    @Test func aPortalProbeThroughADeadNICJoinsTheNICAlert() {
        var host = LabHost(luns: 4)
        host.snapshot.portalProbes = [
            PortalProbe(portal: LabHost.portalB, nic: "ini1", reachable: false, consecutiveFailures: 2),
            PortalProbe(portal: LabHost.portalA, nic: "ini0", reachable: true),
        ]
        host.snapshot.nics["ini1"] = NIC(name: "ini1", operstate: "down", carrier: nil)
        #expect(alerts(host).map(\.key) == ["nic-down:ini1"])
        host.linkDown("ini1")
        #expect(alerts(host).map(\.key) == ["nic-down:ini1"])
    }

    /// The NIC is up again, but its sessions log in and multipathd reinstates the paths seconds
    /// later: those seconds stay the NIC's alert (the lab saw a portal alert, then four path-lost
    /// alerts, between the NIC coming up and the paths coming back).
    @Test func aNICThatIsUpAgainKeepsItsAlertUntilItsPathsAreBack() {
        var host = LabHost(luns: 4)
        host.linkDown("ini1")
        let down = alerts(host)
        #expect(down.map(\.key) == ["nic-down:ini1"])
        func held() -> [AlertCandidate] {
            AlertGrouping.candidates(model.findings(host.snapshot), snapshot: host.snapshot, model: model, firing: down)
        }
        host.snapshot.nics["ini1"] = NIC(name: "ini1", operstate: "up", carrier: true)
        #expect(alerts(host).map(\.key) == ["portal-unreachable:\(LabHost.portalB)"], "without the firing alerts: the sessions")
        #expect(held().map(\.key) == ["nic-down:ini1"])
        #expect(held()[0].paths == down[0].paths)
        // the sessions are logged in again; dm still has the paths failed; another path fails anew
        let viaIni1 = host.devices(to: LabHost.portalB)
        for i in host.snapshot.sessions.indices where host.snapshot.sessions[i].netdev == "ini1" { host.snapshot.sessions[i].state = "LOGGED_IN" }
        for d in viaIni1 { host.snapshot.scsiDevices[d]?.state = "running" }
        host.failInDM(["sdb"])
        #expect(alerts(host).count == 5, "without the firing alerts: a path-lost alert per path")
        #expect(held().map(\.key) == ["nic-down:ini1", "path-lost:sdb"])
        // multipathd reinstates two of them: the alert names the two still down
        for m in host.snapshot.maps.indices {
            for p in host.snapshot.maps[m].groups[0].paths.indices where ["sda", "sdc"].contains(host.snapshot.maps[m].groups[0].paths[p].device) {
                host.snapshot.maps[m].groups[0].paths[p].kernelState = .active
            }
        }
        #expect(held().first?.paths.map(\.device) == ["sde", "sdg"])
        #expect(held().first?.summary == down[0].summary)
        host.failInDM([])
        for m in host.snapshot.maps.indices {
            for p in host.snapshot.maps[m].groups[0].paths.indices where viaIni1.contains(host.snapshot.maps[m].groups[0].paths[p].device ?? "") {
                host.snapshot.maps[m].groups[0].paths[p].kernelState = .active
            }
        }
        #expect(held().map(\.key) == ["path-lost:sdb"], "every path of the NIC is back: its alert resolves")
    }

    /// The same for a portal that answers again: its alert lasts until multipathd has its paths back.
    @Test func aPortalThatAnswersAgainKeepsItsAlertUntilItsPathsAreBack() {
        var host = LabHost(luns: 2, targetPerLUN: true)
        host.cut(portal: LabHost.portalB)
        let down = alerts(host)
        #expect(down.map(\.key) == ["portal-unreachable:\(LabHost.portalB)"])
        for i in host.snapshot.sessions.indices where host.snapshot.sessions[i].portal == LabHost.portalB { host.snapshot.sessions[i].state = "LOGGED_IN" }
        for d in host.devices(to: LabHost.portalB) { host.snapshot.scsiDevices[d]?.state = "running" }
        #expect(alerts(host).map(\.key) == ["path-lost:sda", "path-lost:sdc"])
        let held = AlertGrouping.candidates(model.findings(host.snapshot), snapshot: host.snapshot, model: model, firing: down)
        #expect(held.map(\.key) == ["portal-unreachable:\(LabHost.portalB)"])
        #expect(held[0].paths.map(\.device) == ["sda", "sdc"])
    }

    /// The kernel has the path active but multipathd still says faulty (it marked the path failed
    /// on the dm event and has not checked it again): not lost. The lab saw a reinstated path
    /// fire again for up to a polling interval.
    @Test func multipathdFaultyAloneIsNotALostPath() {
        var host = LabHost(luns: 2)
        host.snapshot.maps[0].groups[0].paths[0].checkerState = "faulty"
        #expect(alerts(host).isEmpty)
        host.failInDM(["sda"])
        #expect(alerts(host).map(\.key) == ["path-lost:sda"])
    }

    /// Whether multipathd answered: nil (not asked: status under --root without a capture, the
    /// daemon before its first ask, a busy multipathd) is never reported as down.
    @Test(arguments: [(Bool?.none, [String]()), (true, []), (false, ["multipathd-down:multipathd"])])
    func multipathdNotRunningIsOneCriticalAlert(_ running: Bool?, _ keys: [String]) {
        var host = LabHost(luns: 4)
        host.snapshot.multipathdRunning = running
        let all = alerts(host)
        #expect(all.map(\.key) == keys)
        #expect(all.allSatisfy { $0.severity == .critical && $0.paths.isEmpty })
        #expect(model.findings(host.snapshot).map(\.kind) == (running == false ? [.multipathdDown] : []))
    }

    /// While multipathd is down nothing reinstates a failed path: the paths lost with their
    /// sessions up join its one alert instead of an alert each (and their maps' degraded alerts).
    /// A dead NIC is still the NIC's own alert.
    @Test func pathsLostWhileMultipathdIsDownJoinItsAlert() throws {
        var host = LabHost(luns: 4)
        host.snapshot.multipathdRunning = false
        host.failInDM(["sda", "sdc", "sdf"])
        var all = alerts(host)
        #expect(all.map(\.key) == ["multipathd-down:multipathd"])
        let alert = try #require(all.first)
        #expect(alert.severity == .critical)
        #expect(alert.paths.map(\.device) == ["sda", "sdc", "sdf"])
        #expect(alert.maps == ["mpatha", "mpathb", "mpathc"])
        #expect(alert.summary.hasPrefix("multipathd is not running"))
        #expect(alert.summary.hasSuffix("3 paths of 3 maps down: sda (mpatha) via iface1/ini1 to 198.51.100.2:3260, sdc (mpathb) via iface1/ini1 to 198.51.100.2:3260, sdf (mpathc) via iface0/ini0 to 192.0.2.2:3260"))
        // the facts stay in the findings
        #expect(model.findings(host.snapshot).filter { $0.kind == .pathLost }.count == 3)

        host.linkDown("ini0")
        all = alerts(host)
        #expect(all.map(\.key) == ["nic-down:ini0", "multipathd-down:multipathd"])
        #expect(all[1].paths.map(\.device) == ["sda", "sdc"], "sdf goes through ini0: the NIC's")
    }

    /// multipathd answers again: its alert resolves at once when it held no path; with paths still
    /// failed it holds them until its checker has reinstated them (seconds), like a NIC that is up again.
    @Test func multipathdBackResolvesOnceItsPathsAreBack() {
        var host = LabHost(luns: 2)
        host.snapshot.multipathdRunning = false
        let alone = alerts(host)
        host.snapshot.multipathdRunning = true
        func after(_ firing: [AlertCandidate]) -> [String] {
            AlertGrouping.candidates(model.findings(host.snapshot), snapshot: host.snapshot, model: model, firing: firing).map(\.key)
        }
        #expect(after(alone) == [])

        host.snapshot.multipathdRunning = false
        host.failInDM(["sdb"])
        let down = alerts(host)
        host.snapshot.multipathdRunning = true
        #expect(after(down) == ["multipathd-down:multipathd"])
        host.failInDM([])
        for m in host.snapshot.maps.indices {
            for p in host.snapshot.maps[m].groups[0].paths.indices { host.snapshot.maps[m].groups[0].paths[p].kernelState = .active }
        }
        #expect(after(down) == [])
    }

    @Test func mapsOfOtherArraysGetNoExpectedCount() {
        var host = LabHost(luns: 1)
        host.snapshot.maps.append(MultipathMap(name: "hitachi0", wwid: "360060e8", groups: [PathGroup(state: .active, paths: [MapPath(majorMinor: "65:0", kernelState: .active)])]))
        #expect(model.findings(host.snapshot).isEmpty)
        let report = StatusReport(model: model, snapshot: host.snapshot, findings: [])
        #expect(report.maps.first { $0.name == "hitachi0" }?.expectedPaths == nil)
    }
}

@Suite struct StatusViewTests {
    /// Nagios: 2 with no path left, 1 degraded, 0 healthy.
    @Test(arguments: [(0, Int32(0), "SANPATH OK"), (1, Int32(1), "SANPATH WARNING"), (2, Int32(2), "SANPATH CRITICAL")])
    func nagiosExitCodes(_ portalsCut: Int, _ code: Int32, _ prefix: String) {
        var host = LabHost(luns: 2)
        if portalsCut >= 1 { host.cut(portal: LabHost.portalB) }
        if portalsCut >= 2 { host.cut(portal: LabHost.portalA) }
        let findings = model.findings(host.snapshot)
        let nagios = NagiosReport(StatusReport(model: model, snapshot: host.snapshot, findings: findings), thresholds: .init())
        #expect(nagios.exitCode == code)
        #expect(nagios.output.hasPrefix(prefix))
        #expect(nagios.output.contains("'mpatha'=\(2 - portalsCut);2:;1:;0;2"))
    }

    @Test func tableShowsMapsPathsIfacesHostsAndFindings() {
        var host = LabHost(luns: 1)
        host.cut(portal: LabHost.portalB)
        let findings = model.findings(host.snapshot)
        let table = StatusReport(model: model, snapshot: host.snapshot, findings: findings).table()
        #expect(table.hasPrefix("sanpath status (equallogic nc): WARNING · 1 map(s), 1/2 paths up, 1/2 sessions logged in, SAN hosts 2/2 up"))
        #expect(table.contains("LOST  sda"))
        #expect(table.contains("iface1  ini1"))
        #expect(table.contains("10.9.0.1  22    up"))
        #expect(table.contains("WARNING session-down: iSCSI session 1 to 198.51.100.2:3260"))
    }

    /// A stopped multipathd shows in the table, the JSON and Nagios (CRITICAL, exit 2).
    @Test func multipathdNotRunningShowsEverywhere() {
        var host = LabHost(luns: 2)
        host.snapshot.multipathdRunning = false
        let report = StatusReport(model: model, snapshot: host.snapshot, findings: model.findings(host.snapshot))
        let table = report.table()
        #expect(table.hasPrefix("sanpath status (equallogic nc): CRITICAL · 2 map(s), 4/4 paths up, 2/2 sessions logged in, SAN hosts 2/2 up, multipathd not running\n"))
        #expect(table.contains("CRITICAL multipathd-down: multipathd is not running"))
        let json = report.json()
        #expect(json.contains("\"multipathdRunning\" : false"))
        #expect(json.contains("\"kind\" : \"multipathd-down\""))
        let nagios = NagiosReport(report, thresholds: .init())
        #expect(nagios.exitCode == 2)
        #expect(nagios.output.hasPrefix("SANPATH CRITICAL - multipathd is not running"))
    }

    /// Not asked is not down: no finding, no header note, null in the JSON.
    @Test func multipathdUnknownIsNotDown() {
        let host = LabHost(luns: 2)
        let report = StatusReport(model: model, snapshot: host.snapshot, findings: model.findings(host.snapshot))
        #expect(!report.table().contains("multipathd"))
        #expect(!report.json().contains("multipathdRunning\" : false"))
        #expect(NagiosReport(report, thresholds: .init()).exitCode == 0)
    }
}

/// A site may name its portals by host name; sysfs reports sessions by address. With the names
/// resolved, the maps are the site's and a cut path is an alert; compared as strings, no map
/// was the site's and nothing was ever reported (the bug this fixes).
@Suite struct HostNamePortalTests {
    static let site: Site = {
        var site = LabHost.site
        site.paths[0].portal = PortalAddress(host: "san-a.lab.example")
        site.paths[1].portal = PortalAddress(host: "san-b.lab.example")
        return site
    }()

    @Test func aCutPathToAPortalNamedByHostIsAnAlert() {
        var host = LabHost(luns: 1)
        host.cut(portal: LabHost.portalB)
        let resolved = HealthModel(
            site: Self.site, portalAddresses: ["san-a.lab.example": ["192.0.2.2"], "san-b.lab.example": ["198.51.100.2"]])
        #expect(resolved.isSiteMap(host.snapshot.maps[0], in: host.snapshot))
        #expect(AlertGrouping.candidates(resolved.findings(host.snapshot), snapshot: host.snapshot, model: resolved).count == 1)
        let unresolved = HealthModel(site: Self.site)
        #expect(!unresolved.isSiteMap(host.snapshot.maps[0], in: host.snapshot))
    }
}
