import Foundation
import Logging
import SanpathCore
import SanpathDaemon
import SanpathHealth
import SanpathSite
import SanpathSystem
import Synchronization
import Testing

/// A host whose state the test sets; `refresh` re-reads the whole host (the engine cannot tell).
final class ScriptedHost: SnapshotSource, Sendable {
    let state: Mutex<Snapshot>
    let collections = Mutex(0)
    let refreshes = Mutex<[String]>([])

    init(_ snapshot: Snapshot) { state = Mutex(snapshot) }

    func set(_ change: (inout Snapshot) -> Void) { state.withLock { change(&$0) } }

    func collect() async throws -> Snapshot {
        collections.withLock { $0 += 1 }
        return state.withLock { $0 }
    }

    func refresh(map name: String, in snapshot: Snapshot) async throws -> Snapshot {
        refreshes.withLock { $0.append(name) }
        return state.withLock { $0 }
    }

    /// What multipathd says (nil: no multipathd client), and how often it was asked.
    let multipathd = Mutex<MultipathdView?>(nil)
    let multipathdQueries = Mutex(0)

    func multipathdView() async -> MultipathdView? {
        multipathdQueries.withLock { $0 += 1 }
        return multipathd.withLock { $0 }
    }
}

/// A host whose full collection reads the state when it starts, then waits for the test to let
/// it finish: the engine handles events meanwhile, as it does while a real scan awaits its I/O.
final class SlowScanHost: SnapshotSource, Sendable {
    let host: ScriptedHost
    let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)
    let holding = Mutex(false)

    init(_ host: ScriptedHost) { self.host = host }

    func collect() async throws -> Snapshot {
        let seen = try await host.collect()
        if holding.withLock({ $0 }) { await withCheckedContinuation { c in gate.withLock { $0 = c } } }
        return seen
    }

    func refresh(map name: String, in snapshot: Snapshot) async throws -> Snapshot {
        try await host.refresh(map: name, in: snapshot)
    }

    /// Waits until a held collection is waiting, then lets it finish.
    func release() async {
        while gate.withLock({ $0 }) == nil { try? await Task.sleep(for: .milliseconds(1)) }
        holding.withLock { $0 = false }
        gate.withLock { $0?.resume(); $0 = nil }
    }
}

final class CollectingDispatcher: AlertDispatcher, Sendable {
    let events = Mutex<[AlertEvent]>([])
    func dispatch(_ new: [AlertEvent]) async { events.withLock { $0 += new } }
    var keys: [String] { events.withLock { $0.map { "\($0.state.rawValue):\($0.alertKey)" } } }
}

func labSite() -> Site {
    let here = SourceLocation(source: "test")
    return Site(
        vendor: .netapp, role: .nc,
        paths: [
            ISCSIPath(iface: "iface0", portal: PortalAddress(host: "192.0.2.2"), location: here),
            ISCSIPath(iface: "iface1", portal: PortalAddress(host: "198.51.100.2"), location: here),
        ],
        sanHosts: [SANHost(host: "10.9.0.1", location: here)],
        interfaces: [
            InterfaceBinding(iface: "iface0", nic: "ini0", location: here), InterfaceBinding(iface: "iface1", nic: "ini1", location: here),
        ])
}

/// The lab's mpatha: sdb over session 1 (iface1/ini1, portal B), sda over session 2 (iface0/ini0, portal A).
func labSnapshot() -> Snapshot {
    Snapshot(
        maps: [
            MultipathMap(
                name: "mpatha", wwid: "36001405ab5e1ab000000000000000000", groups: [
                    PathGroup(
                        state: .active, paths: [
                            MapPath(majorMinor: "8:16", device: "sdb", kernelState: .active),
                            MapPath(majorMinor: "8:0", device: "sda", kernelState: .active),
                        ])
                ])
        ],
        scsiDevices: [
            "sdb": SCSIDevice(name: "sdb", state: "running", sessionID: 1), "sda": SCSIDevice(name: "sda", state: "running", sessionID: 2),
        ],
        sessions: [
            ISCSISession(id: 1, target: "iqn.t", portalAddress: "198.51.100.2", portalPort: 3260, iface: "iface1", netdev: "ini1", state: "LOGGED_IN", devices: ["sdb"]),
            ISCSISession(id: 2, target: "iqn.t", portalAddress: "192.0.2.2", portalPort: 3260, iface: "iface0", netdev: "ini0", state: "LOGGED_IN", devices: ["sda"]),
        ],
        ifaces: [IfaceFile(name: "iface0", netIfaceName: "ini0"), IfaceFile(name: "iface1", netIfaceName: "ini1")],
        nics: ["ini0": NIC(name: "ini0", operstate: "up", carrier: true), "ini1": NIC(name: "ini1", operstate: "up", carrier: true)])
}

func pathEvent(_ action: String, map: String = "mpatha", path: String = "8:16") -> UdevStreamItem {
    .event(
        UdevEvent(
            action: "change", sysname: "dm-0",
            properties: ["DM_ACTION": action, "DM_NAME": map, "DM_PATH": path, "DM_NR_VALID_PATHS": "1"], receivedMonotonic: 0))
}

/// A monotonic clock the test moves.
final class TestClock: Sendable {
    let now = Mutex(1000.0)
    func read() -> Double { now.withLock { $0 } }
    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
}

@Suite struct MonitorEngineTests {
    let clock = TestClock()

    func engine(_ host: ScriptedHost, _ dispatcher: CollectingDispatcher, restored: [AlertStateMachine.Firing] = []) -> MonitorEngine {
        let clock = self.clock
        return MonitorEngine(
            site: labSite(), policy: AlertPolicy(), source: host, dispatcher: dispatcher, sanHostPort: { _ in 443 },
            restored: restored, logger: Logger(label: "test"), monotonic: { clock.read() })
    }

    @Test func aPathEventRefreshesOnlyItsMapAndFiresOnce() async {
        let host = ScriptedHost(labSnapshot())
        let dispatcher = CollectingDispatcher()
        let engine = engine(host, dispatcher)
        await engine.fullScan()
        #expect(dispatcher.keys.isEmpty)
        host.set { $0.maps[0].groups[0].paths[0].kernelState = .failed }
        await engine.handle(pathEvent("PATH_FAILED"))
        #expect(host.refreshes.withLock { $0 } == ["mpatha"])
        #expect(host.collections.withLock { $0 } == 1, "a dm path event must not cost a full scan")
        #expect(dispatcher.keys == ["firing:path-lost:sdb"])
        let event = dispatcher.events.withLock { $0[0] }
        #expect(event.paths == [PathRef(device: "sdb", map: "mpatha", iface: "iface1", nic: "ini1", portal: "198.51.100.2:3260", target: "iqn.t")])
        host.set { $0.maps[0].groups[0].paths[0].kernelState = .active }
        await engine.handle(pathEvent("PATH_REINSTATED"))
        #expect(dispatcher.keys == ["firing:path-lost:sdb", "resolved:path-lost:sdb"])
        #expect(await engine.stats.events == ["path-failed": 1, "path-reinstated": 1])
    }

    /// The daemon asks multipathd apart from the scans (a slow `show maps json` must not hold
    /// one up); its checker states go into the snapshot at once and into every later scan.
    @Test func multipathdsCheckerStatesJoinTheSnapshotAndLaterScans() async throws {
        let host = ScriptedHost(labSnapshot())
        let engine = engine(host, CollectingDispatcher())
        await engine.fullScan()
        #expect(host.multipathdQueries.withLock { $0 } == 0, "a full scan does not ask multipathd")
        #expect(await engine.snapshot?.multipathdRunning == nil)
        let json = """
            {"major_version": 0, "minor_version": 1, "maps": [{"name": "mpatha", "uuid": "mpath-36001405ab5e1ab000000000000000000",
              "sysfs": "dm-0", "path_groups": [{"paths": [
                {"dev": "sdb", "dev_t": "8:16", "dm_st": "active", "dev_st": "running", "chk_st": "ready"},
                {"dev": "sda", "dev_t": "8:0", "dm_st": "active", "dev_st": "running", "chk_st": "ghost"}]}]}]}
            """
        host.multipathd.withLock { $0 = MultipathdView(maps: try? MultipathdMaps(json: json), running: true) }
        await engine.refreshMultipathd()
        func checkers() async -> [String?] { await engine.snapshot?.maps[0].paths.map(\.checkerState) ?? [] }
        #expect(await checkers() == ["ready", "ghost"])
        #expect(await engine.snapshot?.multipathdRunning == true)
        await engine.fullScan()
        #expect(await checkers() == ["ready", "ghost"], "a scan keeps multipathd's last answer")
        host.multipathd.withLock { $0 = MultipathdView(maps: nil, running: false) }
        await engine.refreshMultipathd()
        #expect(await checkers() == [nil, nil])
        #expect(await engine.snapshot?.multipathdRunning == false)
    }

    /// An idle host is evaluated after every scan and multipathd answer, and after a probe whose
    /// result changed (not its connect time alone); findings are computed again only when
    /// something they read changed.
    @Test func anUnchangedHostReusesItsFindings() async {
        let host = ScriptedHost(labSnapshot())
        let dispatcher = CollectingDispatcher()
        let engine = engine(host, dispatcher)
        await engine.fullScan()
        await engine.recordSANProbe(host: "10.9.0.1", latency: 0.002)
        await engine.recordSANProbe(host: "10.9.0.1", latency: 0.003)
        host.set { $0.time = $0.time.addingTimeInterval(60) }
        await engine.fullScan()
        await engine.tick()
        #expect(await engine.stats.evaluations == 2, "the first scan, and the first probe (the SAN host had never answered)")
        #expect(await engine.stats.reusedEvaluations == 2, "the second scan and the tick; the second probe is not evaluated")
        #expect(await engine.snapshot?.sanHosts.first?.latency == 0.003, "its connect time is kept all the same")
        host.set { $0.maps[0].groups[0].paths[0].kernelState = .failed }
        await engine.handle(pathEvent("PATH_FAILED"))
        #expect(dispatcher.keys == ["firing:path-lost:sdb"])
        #expect(await engine.stats.evaluations == 3)
    }

    /// The drift check runs every 5 minutes, the scans more often: a scan keeps its answer.
    @Test func aFullScanKeepsTheDriftChecksAnswer() async {
        let host = ScriptedHost(labSnapshot())
        let engine = engine(host, CollectingDispatcher())
        await engine.fullScan()
        await engine.recordDrift(["/etc/multipath.conf"])
        #expect(await engine.findings.map(\.kind).contains(.configDrift))
        await engine.fullScan()
        #expect(await engine.snapshot?.driftedFiles == ["/etc/multipath.conf"])
        #expect(await engine.findings.map(\.kind).contains(.configDrift))
    }

    /// A `for` runs out on the engine's own timer, with no scan, probe or event after it: the
    /// next resync may be a minute away.
    @Test func aPendingAlertFiresWhenItsForRunsOutWithNothingElseHappening() async {
        let host = ScriptedHost(labSnapshot())
        let dispatcher = CollectingDispatcher()
        let engine = MonitorEngine(
            site: labSite(), policy: AlertPolicy(defaultFor: 0.05), source: host, dispatcher: dispatcher, sanHostPort: { _ in 443 },
            logger: Logger(label: "test"))
        await engine.fullScan()
        host.set { $0.maps[0].groups[0].paths[0].kernelState = .failed }
        await engine.handle(pathEvent("PATH_FAILED"))
        #expect(dispatcher.keys.isEmpty, "pending for 50 ms")
        for _ in 0..<3000 where !dispatcher.keys.contains("firing:path-lost:sdb") { try? await Task.sleep(for: .milliseconds(10)) }
        #expect(dispatcher.keys.contains("firing:path-lost:sdb"))
    }

    @Test func anUnknownMapOrAnOverflowMeansAFullScan() async {
        let host = ScriptedHost(labSnapshot())
        let engine = engine(host, CollectingDispatcher())
        await engine.fullScan()
        await engine.handle(pathEvent("PATH_FAILED", map: "mpathz"))
        await engine.handle(.overflow)
        #expect(host.collections.withLock { $0 } == 3)
    }

    @Test func sanHostProbesFeedFindingsAfterTwoFailures() async {
        let host = ScriptedHost(labSnapshot())
        let dispatcher = CollectingDispatcher()
        let engine = engine(host, dispatcher)
        await engine.fullScan()
        await engine.recordSANProbe(host: "10.9.0.1", latency: nil)
        #expect(await engine.findings.isEmpty)
        await engine.recordSANProbe(host: "10.9.0.1", latency: nil)
        #expect(await engine.findings.map(\.kind) == [.allSANHostsUnreachable])
        // 30 s `for`: nothing yet, then it fires on a tick
        #expect(dispatcher.keys.isEmpty)
        clock.advance(31)
        await engine.tick()
        #expect(dispatcher.keys == ["firing:all-san-hosts-unreachable:san"])
    }

    /// A NIC going down sends no block event; the portal probe through it fails first. The
    /// engine must look at the NICs then, so the one alert is the NIC's, not the portal's.
    @Test func aFailingPortalProbeRescansSoTheDeadNICIsTheAlert() async {
        let host = ScriptedHost(labSnapshot())
        let dispatcher = CollectingDispatcher()
        let engine = engine(host, dispatcher)
        await engine.fullScan()
        await engine.recordPortalProbe(portal: "198.51.100.2:3260", nic: "ini1", latency: 0.001)
        #expect(host.collections.withLock { $0 } == 1)
        host.set { $0.nics["ini1"] = NIC(name: "ini1", operstate: "down", carrier: nil) }
        await engine.recordPortalProbe(portal: "198.51.100.2:3260", nic: "ini1", latency: nil)
        #expect(host.collections.withLock { $0 } == 2, "the first failed probe re-reads the host")
        #expect(dispatcher.keys == ["firing:nic-down:ini1"])
        await engine.recordPortalProbe(portal: "198.51.100.2:3260", nic: "ini1", latency: nil)
        #expect(host.collections.withLock { $0 } == 2, "only the first failure costs a scan")
        #expect(dispatcher.keys == ["firing:nic-down:ini1"])
    }

    /// NIC up again, paths not back yet: the NIC's alert stays, no alert per path; it resolves
    /// once dm has the paths again.
    @Test func aNICAlertResolvesWhenItsPathsAreBack() async {
        let host = ScriptedHost(labSnapshot())
        let dispatcher = CollectingDispatcher()
        let engine = engine(host, dispatcher)
        await engine.fullScan()
        host.set {
            $0.nics["ini1"] = NIC(name: "ini1", operstate: "down", carrier: nil)
            $0.sessions[0].state = "FREE"
            $0.scsiDevices["sdb"]?.state = "transport-offline"
            $0.maps[0].groups[0].paths[0].kernelState = .failed
        }
        await engine.fullScan()
        #expect(dispatcher.keys == ["firing:nic-down:ini1"])
        host.set {
            $0.nics["ini1"] = NIC(name: "ini1", operstate: "up", carrier: true)
            $0.sessions[0].state = "LOGGED_IN"
            $0.scsiDevices["sdb"]?.state = "running"
        }
        await engine.fullScan()
        #expect(dispatcher.keys == ["firing:nic-down:ini1"])
        host.set { $0.maps[0].groups[0].paths[0].kernelState = .active }
        await engine.handle(pathEvent("PATH_REINSTATED"))
        #expect(dispatcher.keys == ["firing:nic-down:ini1", "resolved:nic-down:ini1"])
    }

    /// A resync that read the map before its path failed must not put the old state back after the
    /// event's refresh (the lab bench saw a reinstated path fire again until the next resync).
    @Test func aScanThatReadTheMapBeforeAnEventDoesNotUndoIt() async {
        let host = ScriptedHost(labSnapshot())
        let slow = SlowScanHost(host)
        let dispatcher = CollectingDispatcher()
        let clock = self.clock
        let engine = MonitorEngine(
            site: labSite(), policy: AlertPolicy(), source: slow, dispatcher: dispatcher, sanHostPort: { _ in 443 },
            logger: Logger(label: "test"), monotonic: { clock.read() })
        await engine.fullScan()
        slow.holding.withLock { $0 = true }
        async let scan = engine.fullScan()  // reads the healthy host, then waits
        while slow.gate.withLock({ $0 }) == nil { try? await Task.sleep(for: .milliseconds(1)) }
        host.set { $0.maps[0].groups[0].paths[0].kernelState = .failed }
        await engine.handle(pathEvent("PATH_FAILED"))
        #expect(dispatcher.keys == ["firing:path-lost:sdb"])
        await slow.release()
        _ = await scan
        #expect(dispatcher.keys == ["firing:path-lost:sdb"], "the scan's older view of mpatha must not resolve the alert")
        #expect(await engine.snapshot?.maps[0].groups[0].paths[0].kernelState == .failed)
    }

    @Test func restoredAlertsAreNotFiredAgainAfterARestart() async {
        let host = ScriptedHost(labSnapshot())
        host.set { $0.maps[0].groups[0].paths[0].kernelState = .failed }
        let first = CollectingDispatcher()
        let before = engine(host, first)
        await before.fullScan()
        #expect(first.keys == ["firing:path-lost:sdb"])
        let saved = await before.firingState
        let second = CollectingDispatcher()
        let after = engine(host, second, restored: saved)
        await after.fullScan()
        #expect(second.keys.isEmpty)
        host.set { $0.maps[0].groups[0].paths[0].kernelState = .active }
        await after.fullScan()
        #expect(second.keys == ["resolved:path-lost:sdb"])
        #expect(second.events.withLock { $0[0].id } == first.events.withLock { $0[0].id.replacingOccurrences(of: "/firing", with: "/resolved") })
    }

    @Test func firstScanReleasesReadiness() async {
        let engine = engine(ScriptedHost(labSnapshot()), CollectingDispatcher())
        async let ready: Void = engine.waitForFirstScan()
        await engine.fullScan()
        await ready
        #expect(await engine.stats.fullScans == 1)
    }
}
