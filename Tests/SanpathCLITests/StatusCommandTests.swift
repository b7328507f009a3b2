import Foundation
import Testing

/// `sanpath status` on host states captured from the lab guest (Tests/Lab/capture-fixtures).
@Suite struct StatusCommandTests {
    static let fixtures = SanpathBinary.repository.appendingPathComponent("Tests/SanpathSystemTests/Fixtures/lab")
    static let site = [
        "--vendor", "netapp", "--role", "nc", "--paths", "iface0:192.0.2.2,iface1:198.51.100.2", "--interfaces",
        "iface0=ini0,iface1=ini1",
    ]

    func status(_ state: String, _ extra: [String]) throws -> SanpathBinary.Result {
        try SanpathBinary.run(["status", "--root", Self.fixtures.appendingPathComponent(state).path] + Self.site + extra)
    }

    /// Nagios: 0 healthy, 1 degraded (one path of each map lost), 2 no path left.
    @Test(arguments: [("healthy", Int32(0), "SANPATH OK"), ("degraded", 1, "SANPATH WARNING"), ("dead", 2, "SANPATH CRITICAL")])
    func nagiosExitCodes(_ state: String, _ code: Int32, _ prefix: String) throws {
        let result = try status(state, ["--format", "nagios"])
        #expect(result.status == code, "\(result.all)")
        #expect(result.stdout.hasPrefix(prefix))
        #expect(result.stdout.contains("'mpatha'="))
        #expect(result.stdout.split(separator: "\n").count == 1)
    }

    @Test func theTableNamesTheCauseOnce() throws {
        let result = try status("degraded", [])
        #expect(result.status == 0)
        let causes = result.stdout.split(separator: "\n").drop { $0 != "CAUSES" }.dropFirst().prefix { $0 != "FINDINGS" }
        #expect(causes.count == 1)
        #expect(causes.first?.contains("portal-unreachable: portal 192.0.2.2:3260 unreachable via iface0/ini0: 3 paths of 3 maps down") == true)
    }

    @Test func jsonCarriesMapsPathsAndFindings() throws {
        let result = try status("dead", ["--format", "json"])
        #expect(result.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let maps = json?["maps"] as? [[String: Any]]
        #expect(maps?.count == 3)
        #expect(maps?.allSatisfy { ($0["validPaths"] as? Int) == 0 } == true)
        #expect((json?["worst"] as? String) == "critical")
    }

    @Test func aRootWithoutCaptureIsUnknownForNagios() throws {
        let result = try SanpathBinary.run(["status", "--root", "/nonexistent", "--format", "nagios"] + Self.site)
        #expect(result.status == 3)
        #expect(result.stdout.hasPrefix("SANPATH UNKNOWN - "))
    }
}
