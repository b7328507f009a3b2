import SanpathCore
import SanpathHealth
import Testing

@testable import SanpathSystem

@Suite("dm multipath status and table lines")
struct MultipathParamsTests {
    @Test("the lab demo's healthy map: one service-time group, two active paths, ALUA, no queueing")
    func demoHealthy() throws {
        let (status, table) = try Fixture.demoMap()
        let parsedStatus = try MultipathStatus(parsing: status, map: "mpatha")
        #expect(parsedStatus.features == ["0", "1"])
        #expect(parsedStatus.queueingIO == false)
        #expect(parsedStatus.nextGroup == 1)
        let parsedTable = try MultipathTable(parsing: table, map: "mpatha")
        #expect(parsedTable.features == [])
        #expect(parsedTable.hardwareHandler == ["alua"])
        #expect(parsedTable.queueIfNoPath == false)
        #expect(parsedTable.groups.map(\.selector) == ["service-time 0"])
        let groups = try parsedStatus.pathGroups(table: parsedTable, map: "mpatha")
        #expect(
            groups == [
                PathGroup(
                    state: .active, selector: "service-time 0",
                    paths: [
                        MapPath(majorMinor: "8:16", kernelState: .active, failCount: 0),
                        MapPath(majorMinor: "8:0", kernelState: .active, failCount: 0),
                    ])
            ])
    }

    @Test("a map from its device and lines: WWID without mpath-, identity carried over")
    func mapFromDevice() throws {
        let (status, table) = try Fixture.demoMap()
        let device = DMDevice(name: "mpatha", uuid: "mpath-36001405ab5e1ab000000000000000000", majorMinor: "253:0", openCount: 1)
        let map = try MultipathMap(device: device, status: status, table: table, sysfsName: "dm-0")
        #expect(map.wwid == "36001405ab5e1ab000000000000000000")
        #expect(map.sysfsName == "dm-0")
        #expect(map.majorMinor == "253:0")
        #expect(map.openCount == 1)
        #expect(map.validPaths == 2)
        #expect(map.queueing == false)
    }

    /// Malformed variants of the real healthy lines: each error names the word and what was expected.
    @Test(
        "malformed status lines are errors naming the offending word",
        arguments: [
            ("", "the line ends where the number of feature values was expected"),
            ("2 0", "the line ends where one of the feature values was expected"),
            ("x 0 1 0 1 1 A 0 2 2 8:16 A 0 0 1 8:0 A 0 0 1", "word 1 'x' where the number of feature values was expected"),
            ("2 0 1 0 1 1 X 0 2 2 8:16 A 0 0 1 8:0 A 0 0 1", "word 7 'X' where the state (A, E or D) of path group 1 was expected"),
            ("2 0 1 0 1 1 A 0 2 2 8:16 B 0 0 1 8:0 A 0 0 1", "word 12 'B' where the state (A or F) of path 8:16 was expected"),
            ("2 0 1 0 1 1 A 0 2 2 sdb A 0 0 1 8:0 A 0 0 1", "word 11 'sdb' where the major:minor of path 1 of path group 1 was expected"),
            ("2 0 1 0 1 1 A 0 2 2 8:16 A -1 0 1 8:0 A 0 0 1", "word 13 '-1' where the fail count of path 8:16 was expected"),
            ("2 0 1 0 1 1 A 0 2 2 8:16 A 0 0 1 8:0 A 0 0", "the line ends where the selector values of path 8:0 was expected"),
            ("2 0 1 0 1 1 A 0 2 2 8:16 A 0 0 1 8:0 A 0 0 1 7", "word 21 '7' where the end of the line was expected"),
            ("2 0 1 0 99999999999999999999 1", "word 5 '99999999999999999999' where the number of path groups was expected"),
            ("2 0 1 0 9223372036854775807 1 A 0 0 0", "the line ends where the state (A, E or D) of path group 2 was expected"),
        ])
    func malformedStatus(line: String, message: String) throws {
        let error = try #require(throws: SanpathError.self) { try MultipathStatus(parsing: line, map: "mpatha") }
        #expect(error.code == .malformedReply)
        #expect(error.message.contains("dm status of map 'mpatha'"))
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test(
        "malformed table lines are errors naming the offending word",
        arguments: [
            ("0 1 alua 1 1 0 2 2 8:16 1 1 8:0 1 1", "word 6 '0' where the path selector name of path group 1 was expected"),
            ("0 1 alua 1 1 service-time 0 2 2 8:16 1 1 8:0 1", "the line ends where the selector arguments of path 8:0 was expected"),
            ("0 1 alua 1 1 service-time 0 2 2 8:16 1 1 8:0: 1 1", "word 13 '8:0:' where the major:minor of path 2 of path group 1 was expected"),
            ("1", "the line ends where one of the feature arguments was expected"),
        ])
    func malformedTable(line: String, message: String) throws {
        let error = try #require(throws: SanpathError.self) { try MultipathTable(parsing: line, map: "mpatha") }
        #expect(error.message.contains("dm table of map 'mpatha'"))
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test("a status and a table of different path lists (a reload between the reads) are refused")
    func reloadBetweenReads() throws {
        let (status, table) = try Fixture.demoMap()
        let otherTable = table.replacingOccurrences(of: "8:0 1 1", with: "8:32 1 1")
        let error = try #require(throws: SanpathError.self) {
            try MultipathStatus(parsing: status).pathGroups(table: try MultipathTable(parsing: otherTable), map: "mpatha")
        }
        #expect(error.message.contains("disagree on the paths of group 1"))
        #expect(error.message.contains("8:16 8:0"))
    }
}
