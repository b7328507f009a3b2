import Foundation
import SanpathHealth
import Testing

/// `StatusReport.topology`: the whiteboard drawing of `sanpath status`.
@Suite("status topology")
struct StatusTopologyTests {
    func report(_ host: LabHost) -> StatusReport {
        StatusReport(model: model, snapshot: host.snapshot, findings: model.findings(host.snapshot))
    }

    @Test("ini0 down: each map, its group, each path's chain to the active SAN host, states in words")
    func plainText() {
        var host = LabHost(luns: 2)
        host.linkDown("ini0")
        #expect(
            report(host).topology() == """
                TOPOLOGY  map → path group → path → iface/NIC → portal → SAN host
                mpatha 36001405ab5e1ab00000000000000000  1/2 paths
                └─ group 1 active
                   ├─ sda active ── iface1/ini1 up ── 198.51.100.2:3260 LOGGED_IN ── SAN 10.9.0.1 up
                   └─ sdb failed ── iface0/ini0 down ── 192.0.2.2:3260 FREE ── SAN 10.9.0.1 up
                mpathb 36001405ab5e1ab00000000000000001  1/2 paths
                └─ group 1 active
                   ├─ sdc active ── iface1/ini1 up ── 198.51.100.2:3260 LOGGED_IN ── SAN 10.9.0.1 up
                   └─ sdd failed ── iface0/ini0 down ── 192.0.2.2:3260 FREE ── SAN 10.9.0.1 up

                """)
    }

    @Test("colour: what is up green, what is down red, a degraded map yellow; the same text beneath")
    func colored() {
        var host = LabHost(luns: 1)
        host.linkDown("ini0")
        host.snapshot.sanHosts[0].reachable = false
        let report = report(host)
        let colored = report.topology(color: true)
        let red = "\u{1B}[31m", green = "\u{1B}[32m", yellow = "\u{1B}[33m", reset = "\u{1B}[0m"
        #expect(colored.contains("\(green)sda active\(reset)"))
        #expect(colored.contains("\(red)sdb failed\(reset)"))
        #expect(colored.contains("\(red)iface0/ini0 down\(reset)"))
        #expect(colored.contains("\(green)iface1/ini1 up\(reset)"))
        #expect(colored.contains("\(red)192.0.2.2:3260 FREE\(reset)"))
        #expect(colored.contains("\(green)198.51.100.2:3260 LOGGED_IN\(reset)"))
        #expect(colored.contains("\(yellow)1/2 paths\(reset)"))
        // 10.9.0.1 is down: Eucalyptus' next host, 10.9.0.2, is the active one
        #expect(colored.contains("\(green)SAN 10.9.0.2 up\(reset)"))
        #expect(colored.replacing(/\u{1B}\[[0-9;]*m/, with: "") == report.topology())
        #expect(!report.topology().contains("\u{1B}"))
    }

    @Test("SAN hosts not probed: the site's first is named; a map with no path is red")
    func notProbedAndDead() {
        var host = LabHost(luns: 1)
        host.snapshot.sanHosts = []
        host.linkDown("ini0")
        host.linkDown("ini1")
        let text = report(host).topology(siteSANHosts: ["10.9.0.1", "10.9.0.2"])
        #expect(text.contains("sda failed ── iface1/ini1 down ── 198.51.100.2:3260 FREE ── SAN 10.9.0.1 not probed"))
        #expect(report(host).topology(color: true).contains("\u{1B}[31m0/2 paths"))
        #expect(!report(host).topology().contains("── SAN"))
    }

    @Test("several groups: ├─ for all but the last, │ carries the tree down")
    func groups() {
        var host = LabHost(luns: 1)
        let paths = host.snapshot.maps[0].groups[0].paths
        host.snapshot.maps[0].groups = [
            PathGroup(state: .active, selector: "service-time 0", paths: [paths[0]]),
            PathGroup(state: .enabled, selector: "service-time 0", paths: [paths[1]]),
        ]
        let lines = report(host).topology().split(separator: "\n").dropFirst(2)
        #expect(
            Array(lines) == [
                "├─ group 1 active", "│  └─ sda active ── iface1/ini1 up ── 198.51.100.2:3260 LOGGED_IN ── SAN 10.9.0.1 up",
                "└─ group 2 enabled", "   └─ sdb active ── iface0/ini0 up ── 192.0.2.2:3260 LOGGED_IN ── SAN 10.9.0.1 up",
            ])
    }
}
