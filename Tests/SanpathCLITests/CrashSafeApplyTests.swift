import Foundation
import Synchronization
import Testing

/// What a host tree holds, split into the host's files and sanpath's state.
struct TreeState {
    /// Host files (relative path → bytes), var/lib/sanpath and leftover temp files excluded.
    var files: [String: Data]
    /// Temp files of writes killed before their rename (`.NAME.sanpath-PID`), anywhere.
    var leftovers: [String]
    /// The apply records, oldest first.
    var records: [[String: Any]]

    init(_ tree: HostTree) throws {
        files = [:]
        leftovers = []
        for (path, data) in try tree.files() {
            if (path as NSString).lastPathComponent.hasPrefix(".") && path.contains(".sanpath-") {
                leftovers.append(path)
            } else if !path.hasPrefix("var/lib/sanpath") {
                files[path] = data
            }
        }
        let applies = tree.root.appendingPathComponent("var/lib/sanpath/applies")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: applies.path)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        records = try names.map {
            try JSONSerialization.jsonObject(with: Data(contentsOf: applies.appendingPathComponent($0))) as! [String: Any]
        }
    }
}

/// sanpath apply killed with SIGKILL at every step of its file changes and at random moments: each
/// host file is then its old or its new version byte for byte, the record and its backups agree,
/// and the next apply finishes the job (undoing the interrupted one first) and rollback restores.
@Suite(.serialized) struct CrashSafeApplyTests {
    static let corpus = "chap"
    static let arguments = ["--update-node-records"]

    /// The host before and after a clean apply, as references.
    struct Versions {
        var old: [String: Data]
        var new: [String: Data]

        init() throws {
            let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("\(CrashSafeApplyTests.corpus)/root"))
            defer { tree.remove() }
            old = try TreeState(tree).files
            let apply = try SanpathBinary.run(["apply"] + CrashSafeApplyTests.arguments + Corpus.siteArguments(tree))
            precondition(apply.status == 0, apply.all)
            new = try TreeState(tree).files
            precondition(old != new)
        }
    }

    /// Problems with the state a kill left, empty when it is sound.
    static func check(killed tree: HostTree, _ versions: Versions) throws -> [String] {
        var problems: [String] = []
        let state = try TreeState(tree)
        for path in Set(versions.old.keys).union(versions.new.keys).union(state.files.keys).sorted() {
            let now = state.files[path]
            if now != versions.old[path] && now != versions.new[path] {
                problems.append("\(path) is neither the old nor the new version")
            }
        }
        guard state.records.count <= 1 else { return problems + ["\(state.records.count) records after one apply"] }
        guard let record = state.records.first else {
            if state.files != versions.old { problems.append("no record, but host files changed") }
            return problems
        }
        let status = record["status"] as? String
        for file in record["files"] as? [[String: Any]] ?? [] {
            let path = String((file["path"] as! String).dropFirst())
            let now = state.files[path]
            if status == "complete" && now != versions.new[path] { problems.append("complete record, \(path) not new") }
            guard let backup = file["backup"] as? String else { continue }
            let copy = FileManager.default.contents(atPath: tree.root.appendingPathComponent(String(backup.dropFirst())).path)
            if let copy, copy != versions.old[path] { problems.append("backup of \(path) is not the old version") }
            // a file that is new must have its backup, or nothing could put it back
            if copy == nil && now != versions.old[path] { problems.append("\(path) written but its backup is missing") }
        }
        return problems
    }

    /// The next apply undoes what the killed one left and applies; rollback then restores the old
    /// host byte for byte and plan has work again.
    static func recover(_ tree: HostTree, _ versions: Versions, rollback: Bool = true, plan: Bool = true) throws -> [String] {
        var problems: [String] = []
        let site = Corpus.siteArguments(tree)
        let apply = try SanpathBinary.run(["apply"] + arguments + site)
        if apply.status != 0 { return ["apply after the kill exited \(apply.status): \(apply.all)"] }
        var state = try TreeState(tree)
        if state.files != versions.new { problems.append("apply after the kill did not leave the new version") }
        if !state.leftovers.isEmpty { problems.append("temp files left after recovery: \(state.leftovers)") }
        if state.records.last?["status"] as? String != "complete" { problems.append("the last record is not complete") }
        if state.records.contains(where: { $0["status"] as? String == "in-progress" }) { problems.append("an in-progress record stayed") }
        guard rollback else { return problems }
        let back = try SanpathBinary.run(["rollback", "--root", tree.root.path])
        if back.status != 0 { return problems + ["rollback exited \(back.status): \(back.all)"] }
        state = try TreeState(tree)
        if state.files != versions.old { problems.append("rollback did not restore the old version byte for byte") }
        if plan, try SanpathBinary.run(["plan"] + site).status != 2 { problems.append("plan after rollback has nothing to do") }
        return problems
    }

    static func killedApply(_ tree: HostTree, environment: [String: String]) throws -> SanpathBinary.Result {
        try SanpathBinary.run(["apply"] + arguments + Corpus.siteArguments(tree), environment: environment)
    }

    /// SANPATH_TEST_KILL_AT_STEP=1, 2, … until apply runs to its end: every create, write, fsync,
    /// rename and unlink of apply is a place it died.
    @Test(.timeLimit(.minutes(2))) func killedAtEveryStep() throws {
        let versions = try Versions()
        var step = 1
        var kills = 0
        while true {
            let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("\(Self.corpus)/root"))
            defer { tree.remove() }
            let result = try Self.killedApply(tree, environment: ["SANPATH_TEST_KILL_AT_STEP": "\(step)"])
            if result.status == 0 { break }  // past its last step
            #expect(result.status == 137, "step \(step): \(result.all)")
            kills += 1
            let killedAt = result.stderr.split(separator: "\n").first { $0.contains("killed before") }.map(String.init) ?? "?"
            for problem in try Self.check(killed: tree, versions) + Self.recover(tree, versions, plan: step % 8 == 1) {
                Issue.record("\(killedAt): \(problem)")
            }
            step += 1
            try #require(step < 500, "apply never ran to its end")
        }
        // the chap host: record, 2 backups, 7 files, record again, 5 steps each at least
        #expect(kills >= 50, "only \(kills) steps")
        print("kill-9 at every step: \(kills) steps of apply killed, each recovered")
    }

    /// rollback killed at every step: the next rollback finishes it (what was put back already is
    /// not an edit).
    @Test(.timeLimit(.minutes(2))) func rollbackKilledAtEveryStep() throws {
        let versions = try Versions()
        var step = 1
        var kills = 0
        while true {
            let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("\(Self.corpus)/root"))
            defer { tree.remove() }
            let apply = try Self.killedApply(tree, environment: [:])
            try #require(apply.status == 0, "\(apply.all)")
            let killed = try SanpathBinary.run(
                ["rollback", "--root", tree.root.path], environment: ["SANPATH_TEST_KILL_AT_STEP": "\(step)"])
            if killed.status == 0 { break }
            #expect(killed.status == 137, "step \(step): \(killed.all)")
            kills += 1
            let state = try TreeState(tree)
            let finished = state.records.last?["status"] as? String == "rolled-back"
            for path in Set(versions.old.keys).union(versions.new.keys).sorted()
            where state.files[path] != versions.old[path] && state.files[path] != versions.new[path] {
                Issue.record("rollback step \(step): \(path) is neither version")
            }
            if finished {
                // killed after it recorded the rollback: it was done
                #expect(state.files == versions.old, "rollback step \(step): recorded as rolled back, not restored")
            } else {
                let again = try SanpathBinary.run(["rollback", "--root", tree.root.path])
                #expect(again.status == 0, "rollback step \(step), rollback again: \(again.all)")
            }
            #expect(try TreeState(tree).files == versions.old, "rollback step \(step): not restored byte for byte")
            step += 1
            try #require(step < 500)
        }
        // 2 files restored (5 steps each), 5 created ones removed, the record
        #expect(kills >= 15, "only \(kills) steps")
        print("kill-9 of rollback at every step: \(kills) steps killed, each finished by the next rollback")
    }

    /// SIGKILL from outside at random moments of apply's run, each step slowed by a pause so that
    /// the run is long enough to aim into: the moments are uniform between the time apply takes to
    /// reach its first step and the time it takes to finish (both measured here first). 50 kills in
    /// CI (two at a time, about 15 s); SANPATH_KILL9_RANDOM=N for more (200: about a minute).
    @Test(.timeLimit(.minutes(3))) func killedAtRandomMoments() throws {
        let versions = try Versions()
        let wanted = ProcessInfo.processInfo.environment["SANPATH_KILL9_RANDOM"].flatMap(Int.init) ?? 50
        let pause = ["SANPATH_TEST_STEP_PAUSE_US": "500"]
        func timed(_ environment: [String: String]) throws -> Double {
            let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("\(Self.corpus)/root"))
            defer { tree.remove() }
            let start = ContinuousClock.now
            _ = try Self.killedApply(tree, environment: environment)
            let elapsed = ContinuousClock.now - start
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
        let toFirstStep = try (0..<3).map { _ in try timed(pause.merging(["SANPATH_TEST_KILL_AT_STEP": "1"]) { $1 }) }.min()!
        let whole = try (0..<3).map { _ in try timed(pause) }.max()!
        try #require(whole > toFirstStep, "apply took \(whole) s, its first step came after \(toFirstStep) s")
        let tally = Mutex<(kills: Int, before: Int, inProgress: Int, complete: Int, finished: Int, problems: [String])>(
            (0, 0, 0, 0, 0, []))
        let seed = UInt64.random(in: 0..<UInt64.max)
        var round = 0
        while tally.withLock({ $0.kills }) < wanted {
            round += 1
            try #require(round < 40, "too few kills landed")
            let thisRound = round
            let trials = max(2, wanted - tally.withLock { $0.kills })
            DispatchQueue.concurrentPerform(iterations: trials) { index in
                var generator = SplitMix(seed: seed &+ UInt64(thisRound * 100_000 + index))
                do {
                    let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("\(Self.corpus)/root"))
                    defer { tree.remove() }
                    let delay = Double.random(in: (toFirstStep * 0.9)...(whole * 1.05), using: &generator)
                    let result = try SanpathBinary.run(
                        ["apply"] + Self.arguments + Corpus.siteArguments(tree), environment: pause, killAfter: delay)
                    guard result.status == 137 else {
                        tally.withLock { $0.finished += 1 }
                        return
                    }
                    let state = try TreeState(tree)
                    let status = state.records.first?["status"] as? String
                    var problems = try Self.check(killed: tree, versions)
                    // rollback every 4th time: the apply after the kill is the part that recovers
                    problems += try Self.recover(tree, versions, rollback: index % 4 == 0, plan: index % 16 == 0)
                    tally.withLock {
                        $0.kills += 1
                        switch status {
                        case nil: $0.before += 1
                        case "in-progress": $0.inProgress += 1
                        default: $0.complete += 1
                        }
                        $0.problems += problems.map { "kill after \(Int(delay * 1000)) ms (\(status ?? "no record")): \($0)" }
                    }
                } catch {
                    tally.withLock { $0.problems.append("\(error)") }
                }
            }
        }
        let result = tally.withLock { $0 }
        for problem in result.problems { Issue.record(Comment(rawValue: problem)) }
        #expect(result.inProgress >= wanted / 3, "too few kills landed inside the file changes")
        print(
            "kill-9 at random moments (seed \(seed), \(Int(toFirstStep * 1000))-\(Int(whole * 1000)) ms): \(result.kills) kills (\(result.before) before the record, \(result.inProgress) with the apply in progress, \(result.complete) after it was complete), \(result.finished) runs finished first")
    }
}

/// A small seeded generator, so that a failing run can be repeated from its printed seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
