import SanpathCore
import SanpathHealth
import Testing

@testable import SanpathSystem

@Suite("dm multipath status and table lines")
struct MultipathParamsTests {
    /// scripts/fuzz's find (Fuzz/Corpus/dm-lines/huge-count): a count of words far past the
    /// line's end made the parser reserve that many before failing, and abort; now it is the
    /// usual malformed-line error.
    @Test("a count past the end of the line is a malformed line, not an allocation of that count")
    func hugeCounts() throws {
        for line in ["2 1 0 0000003741626446276610732 1 0", "0 1 0 1 1 A 99999999999999999 8:16 A 0", "1 9223372036854775807"] {
            #expect(throws: SanpathError.self) { _ = try MultipathStatus(parsing: line, map: "mpatha") }
            #expect(throws: SanpathError.self) { _ = try MultipathTable(parsing: line, map: "mpatha") }
        }
    }

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

    /// Real lines from the lab kernel for every selector and feature shape (Fixtures/dm-lines),
    /// summed up as `queueing | state selector: path state failcount, … | …`.
    @Test(
        "real lines of every selector, feature and group state",
        arguments: [
            ("created: all paths active", "rr", "no | E round-robin 0: 8:0 F 1, 8:16 F 1, 8:32 F 1, 8:48 F 1"),
            ("created: all paths active", "ql", "queue_if_no_path | E queue-length 0: 8:0 F 1, 8:16 F 1"),
            ("created: all paths active", "st", "no | E service-time 0: 8:32 F 1 | E service-time 0: 8:48 F 1"),
            (
                "created: all paths active", "qst",
                "queue_if_no_path | E service-time 0: 8:0 F 1, 8:16 F 1 | E service-time 0: 8:32 F 1, 8:48 F 1"
            ),
            ("created: all paths active", "none", "queue_if_no_path"),
            ("ql: fail_if_no_path sent", "ql", "no | E queue-length 0: 8:0 F 1, 8:16 F 1"),
            ("st: group 2 disabled; qst: switched to group 2", "st", "no | E service-time 0: 8:32 F 1 | D service-time 0: 8:48 F 1"),
            ("rr and st reinstated", "rr", "no | E round-robin 0: 8:0 F 1, 8:16 A 1, 8:32 F 1, 8:48 F 1"),
            ("rr and st reinstated", "st", "no | E service-time 0: 8:32 A 1 | E service-time 0: 8:48 F 1"),
        ])
    func labLines(section: String, map: String, summary: String) throws {
        let lines = try #require(try Fixture.dmLines()[section])
        let table = try MultipathTable(parsing: try #require(lines.table[map]), map: map)
        let status = try MultipathStatus(parsing: try #require(lines.status[map]), map: map)
        let groups = try status.pathGroups(table: table, map: map)
        #expect(Fixture.summary(queueing: table.queueIfNoPath, groups: groups) == summary)
    }

    @Test("feature and handler arguments, next group and queued I/O as the lab kernel printed them")
    func labDetails() throws {
        let lines = try Fixture.dmLines()
        let created = try #require(lines["created: all paths active"])
        let qst = try MultipathTable(parsing: try #require(created.table["qst"]))
        #expect(qst.features == ["queue_if_no_path", "pg_init_retries", "50"])
        #expect(qst.hardwareHandler == ["alua"])
        #expect(qst.firstGroup == 1)
        let st = try MultipathTable(parsing: try #require(created.table["st"]))
        #expect(st.features == ["pg_init_retries", "50"])
        #expect(st.queueIfNoPath == false)
        let none = try MultipathStatus(parsing: try #require(created.status["none"]))
        #expect(none.groups.isEmpty && none.nextGroup == 0)
        #expect(none.queueingIO == true)
        let switched = try #require(lines["st: group 2 disabled; qst: switched to group 2"])
        #expect(try MultipathStatus(parsing: try #require(switched.status["qst"])).nextGroup == 2)
        #expect(try MultipathTable(parsing: try #require(switched.table["qst"])).firstGroup == 2)
        // Every path failed and queue_if_no_path still on: the kernel reports queue_io 0 while the read waits.
        let queued = try #require(lines["ql: every path failed, queue_if_no_path on, one read queued"])
        #expect(try MultipathStatus(parsing: try #require(queued.status["ql"])).features == ["0", "0"])
    }

    @Test("every map of every section of the lab lines reads without error")
    func allLabLines() throws {
        let sections = try Fixture.dmLines()
        #expect(sections.count == 6)
        for (_, lines) in sections {
            #expect(lines.status.count == 5)
            for (map, status) in lines.status {
                let table = try MultipathTable(parsing: try #require(lines.table[map]), map: map)
                _ = try MultipathStatus(parsing: status, map: map).pathGroups(table: table, map: map)
            }
        }
    }
}
