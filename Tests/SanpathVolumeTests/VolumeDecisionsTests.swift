import SanpathCore
import SanpathHealth
import SanpathSite
import SanpathVolume
import Testing

/// The lab's NC: iface0 -> ini0 -> 192.0.2.2, iface1 -> ini1 -> 198.51.100.2 (Tests/Lab/README.md);
/// sessions as sysfs reports them in the lab fixture (Tests/SanpathSystemTests/Fixtures/lab/healthy).
enum Lab {
    static let here = SourceLocation(source: "test")
    static let target = "iqn.1992-08.com.netapp:sn.lab-t0"
    static let interfaces = [
        InterfaceBinding(iface: "iface0", nic: "ini0", location: here), InterfaceBinding(iface: "iface1", nic: "ini1", location: here),
    ]
    static let ifaces = [HostIface(name: "iface0", nic: "ini0"), HostIface(name: "iface1", nic: "ini1"), HostIface(name: "default", nic: nil)]
    static func path(_ iface: String?, _ host: String, target: String = target) -> VolumePath {
        VolumePath(iface: iface, portal: PortalAddress(host: host), target: target)
    }
    static func session(_ id: Int, _ address: String, _ iface: String, _ nic: String, devices: [String], target: String = target, state: String = "LOGGED_IN") -> ISCSISession {
        ISCSISession(id: id, target: target, portalAddress: address, portalPort: 3260, iface: iface, netdev: nic, state: state, devices: devices)
    }
    static let both = [path("iface0", "192.0.2.2"), path("iface1", "198.51.100.2")]
}

@Suite struct AttachDecisionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var paths: [VolumePath]
        var ifaces: [HostIface]
        var sessions: [ISCSISession]
        var addresses: [String: [String]] = [:]
        /// (iface, createIface, session) per path
        var want: [(String, Bool, Int?)]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "fresh host: both paths log in through their bound ifaces", paths: Lab.both, ifaces: Lab.ifaces, sessions: [],
             want: [("iface0", false, nil), ("iface1", false, nil)]),
        Case(name: "a session that exists counts: no second login on it", paths: Lab.both, ifaces: Lab.ifaces,
             sessions: [Lab.session(1, "192.0.2.2", "iface0", "ini0", devices: ["sda"])],
             want: [("iface0", false, 1), ("iface1", false, nil)]),
        Case(name: "a FAILED session is not a login", paths: Lab.both, ifaces: Lab.ifaces,
             sessions: [Lab.session(1, "192.0.2.2", "iface0", "ini0", devices: ["sda"], state: "FAILED")],
             want: [("iface0", false, nil), ("iface1", false, nil)]),
        Case(name: "a session of another target on the same portal is not ours", paths: Lab.both, ifaces: Lab.ifaces,
             sessions: [Lab.session(1, "192.0.2.2", "iface0", "ini0", devices: ["sda"], target: "iqn.1992-08.com.netapp:sn.lab-t1")],
             want: [("iface0", false, nil), ("iface1", false, nil)]),
        Case(name: "a session on the wrong NIC does not serve the path", paths: Lab.both, ifaces: Lab.ifaces,
             sessions: [Lab.session(1, "192.0.2.2", "default", "eth0", devices: ["sda"])],
             want: [("iface0", false, nil), ("iface1", false, nil)]),
        Case(name: "no iface bound to the NIC: the logical name is created", paths: Lab.both, ifaces: [HostIface(name: "iface0", nic: "ini0")],
             sessions: [], want: [("iface0", false, nil), ("iface1", true, nil)]),
        Case(name: "the logical name is taken by another NIC: the first free ifaceN", paths: Lab.both,
             ifaces: [HostIface(name: "iface0", nic: "ini0"), HostIface(name: "iface1", nic: "eth9")], sessions: [],
             want: [("iface0", false, nil), ("iface2", true, nil)]),
        Case(name: "an iface bound to the NIC under another name is used", paths: Lab.both,
             ifaces: [HostIface(name: "iface0", nic: "ini0"), HostIface(name: "storage-b", nic: "ini1")], sessions: [],
             want: [("iface0", false, nil), ("storage-b", false, nil)]),
        Case(name: "a portal named by host name matches its session by address", paths: [Lab.path("iface0", "san-a.lab")], ifaces: Lab.ifaces,
             sessions: [Lab.session(4, "192.0.2.2", "iface0", "ini0", devices: [])], addresses: ["san-a.lab": ["192.0.2.2"]],
             want: [("iface0", false, 4)]),
        Case(name: "no iface in the path: the default route", paths: [Lab.path(nil, "192.0.2.2")], ifaces: Lab.ifaces, sessions: [],
             want: [("default", false, nil)]),
    ]

    @Test(arguments: cases)
    func stepsPerPath(_ c: Case) throws {
        let steps = try VolumeDecisions.attachSteps(
            for: VolumeRequest(paths: c.paths, lun: 1), interfaces: Lab.interfaces, ifaces: c.ifaces, sessions: c.sessions, addresses: c.addresses)
        #expect(steps.count == c.want.count)
        for (step, want) in zip(steps, c.want) {
            #expect(step.iface == want.0, "\(c.name): \(step.path)")
            #expect(step.createIface == want.1, "\(c.name): \(step.path)")
            #expect(step.session == want.2, "\(c.name): \(step.path)")
            #expect(step.needsLogin == (want.2 == nil))
        }
    }

    @Test func anUnmappedIfaceIsAnError() {
        #expect {
            _ = try VolumeDecisions.attachSteps(
                for: VolumeRequest(paths: [Lab.path("iface7", "192.0.2.2")], lun: 1), interfaces: Lab.interfaces, ifaces: Lab.ifaces,
                sessions: [], addresses: [:])
        } throws: { error in
            "\(error)".contains("iface 'iface7' is not mapped to a NIC") && "\(error)".contains("iface0=ini0,iface1=ini1")
        }
    }
}

@Suite struct DetachDecisionTests {
    /// The lab's healthy shape: session 1 and 2 carry LUN 0 (sda, sdc) and LUN 1 (sdb, sdd).
    static let shared = [
        Lab.session(1, "192.0.2.2", "iface0", "ini0", devices: ["sda", "sdb"]),
        Lab.session(2, "198.51.100.2", "iface1", "ini1", devices: ["sdc", "sdd"]),
        Lab.session(3, "192.0.2.2", "iface0", "ini0", devices: ["sde"], target: "iqn.1992-08.com.netapp:sn.lab-t1"),
    ]

    @Test func aSessionThatCarriesAnotherLUNIsKept() {
        #expect(VolumeDecisions.sessionsToLogOut(removing: ["sdb", "sdd"], sessions: Self.shared).isEmpty)
    }

    @Test func theLastLUNOfASessionLogsItOut() {
        let out = VolumeDecisions.sessionsToLogOut(removing: ["sde"], sessions: Self.shared)
        #expect(out.map(\.id) == [3])
    }

    @Test func removingEveryLUNOfTwoSessionsLogsBothOut() {
        let out = VolumeDecisions.sessionsToLogOut(removing: ["sda", "sdb", "sdc", "sdd"], sessions: Self.shared)
        #expect(out.map(\.id) == [1, 2])
    }

    @Test func aSessionWithNoDiskIsNotOursToLogOut() {
        let idle = [Lab.session(9, "192.0.2.2", "iface0", "ini0", devices: [])]
        #expect(VolumeDecisions.sessionsToLogOut(removing: ["sdb"], sessions: idle).isEmpty)
    }
}

@Suite struct ConnectStringTests {
    @Test func eucalyptusConnectStringWithTwoPaths() throws {
        let text = "eucalyptus,,1,QUJDRA==,iface0,192.0.2.2,iqn.1992-08.com.netapp:sn.lab-t0.,iface1,198.51.100.2,iqn.1992-08.com.netapp:sn.lab-t0"
        let parsed = try ConnectString(text)
        #expect(parsed.lun == 1)
        #expect(parsed.needsPassword)
        #expect(parsed.paths == [Lab.path("iface0", "192.0.2.2"), Lab.path("iface1", "198.51.100.2")])
    }

    @Test func withEucaHomeInFrontAndNoAuth() throws {
        let parsed = try ConnectString("/opt/eucalyptus,,none,3,,iface0,192.0.2.2,iqn.2001-05.com.equallogic:0-8a0906-vol-1")
        #expect(parsed.user == "eucalyptus")
        #expect(!parsed.needsPassword)
        #expect(parsed.lun == 3)
        #expect(parsed.paths.map(\.target) == ["iqn.2001-05.com.equallogic:0-8a0906-vol-1"])
    }

    @Test(arguments: [
        ("eucalyptus,,1,x,iface0,192.0.2.2", "the target paths are not complete"),
        ("eucalyptus,,one,x,iface0,192.0.2.2,iqn.2001-05.com.x:1", "the LUN, is 'one'"),
        ("eucalyptus,,1,x,iface0,,iqn.2001-05.com.x:1", "has no portal address"),
        ("eucalyptus,,1,x,iface0,192.0.2.2,target-1", "'target-1' is not an iSCSI name"),
    ])
    func malformedStringsSayWhatIsWrong(_ text: String, _ expected: String) {
        #expect {
            _ = try ConnectString(text)
        } throws: { error in
            "\(error)".contains(expected) && !"\(error)".contains(",x,")
        }
    }
}
