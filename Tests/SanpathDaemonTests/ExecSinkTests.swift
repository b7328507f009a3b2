import Foundation
import SanpathCore
import SanpathDaemon
import SanpathHealth
import Testing

@Suite("exec sink", .timeLimit(.minutes(1)), .temporaryFolders)
struct ExecSinkTests {
    /// NUL-separated `env -0` output as a dictionary.
    func environment(in file: URL) throws -> [String: String] {
        let data = try Data(contentsOf: file)
        var out: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            out[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return out
    }

    @Test("the program gets the alert in its environment")
    func environmentVariables() async throws {
        let folder = try temporaryFolder()
        let out = folder.appendingPathComponent("env")
        let sink = ExecSink(
            argv: ["/bin/sh", "-c", #"env -0 > "$1""#, "hook", out.path],
            environment: ["PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "30000000", "LANG": "C.UTF-8"])
        let event = AlertSamples.nicDown()
        try await sink.deliver(event)

        let env = try environment(in: out)
        #expect(env["SANPATH_ALERT_ID"] == event.id)
        #expect(env["SANPATH_ALERT_KEY"] == "nic-down:eth1")
        #expect(env["SANPATH_ALERT_STATE"] == "firing")
        #expect(env["SANPATH_ALERT_KIND"] == "nic-down")
        #expect(env["SANPATH_ALERT_SEVERITY"] == "warning")
        #expect(env["SANPATH_ALERT_SUMMARY"] == event.summary)
        #expect(env["SANPATH_ALERT_MAPS"] == "mpatha,mpathb")
        #expect(env["SANPATH_ALERT_PATHS"] == "sdb (mpatha) via iface1/eth1 to 10.108.1.200:3260\nsdd (mpathb)")
        #expect(env["SANPATH_ALERT_JSON"] == AlertEventJSON.line(event))
        #expect(env["SANPATH_ALERT_STARTED_AT"] == "2026-05-28T20:26:40.125Z")
        // the daemon's environment is inherited, systemd's handles are not
        #expect(env["LANG"] == "C.UTF-8")
        #expect(env["NOTIFY_SOCKET"] == nil)
        #expect(env["WATCHDOG_USEC"] == nil)
        #expect(sink.name == "exec:/bin/sh -c env -0 > \"$1\" hook \(out.path)")
        #expect(ExecSink(argv: ["/usr/local/bin/page", "--token", "T0KEN"], name: "page").name == "exec:page")
    }

    @Test("arguments reach the program as they are: no shell between")
    func noShell() async throws {
        let folder = try temporaryFolder()
        let out = folder.appendingPathComponent("arg")
        let tricky = #"a b;$(touch \#(folder.path)/pwned) `id` * "q" 'x'"#
        let sink = ExecSink(argv: ["/bin/sh", "-c", #"printf '%s' "$1" > "$2""#, "hook", tricky, out.path])
        try await sink.deliver(AlertSamples.nicDown())
        #expect(try String(contentsOf: out, encoding: .utf8) == tricky)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("pwned").path))
    }

    @Test("a non-zero exit throws, naming the status and the program's last words")
    func failure() async throws {
        let sink = ExecSink(argv: ["/bin/sh", "-c", "echo 'pager unreachable' >&2; exit 3"])
        let error = try await #require(throws: SanpathError.self) { try await sink.deliver(AlertSamples.nicDown()) }
        #expect(error.code == .delivery)
        #expect(error.message.contains("exited with status 3"))
        #expect(error.message.contains("pager unreachable"))
    }

    @Test("a program killed by a signal throws")
    func signalled() async throws {
        let sink = ExecSink(argv: ["/bin/sh", "-c", "kill -KILL $$"])
        let error = try await #require(throws: SanpathError.self) { try await sink.deliver(AlertSamples.nicDown()) }
        #expect(error.message.contains("killed by signal 9"))
    }

    @Test("a program that overruns its timeout gets SIGTERM with its children, and that throws")
    func timeout() async throws {
        let folder = try temporaryFolder()
        let pids = folder.appendingPathComponent("pids")
        let term = folder.appendingPathComponent("term")
        // the shell and a grandchild both hold the output; neither may keep the sink waiting
        let sink = ExecSink(
            argv: ["/bin/sh", "-c", #"trap 'echo TERM > "$2"; exit 1' TERM; sleep 600 & echo $! > "$1"; echo $$ >> "$1"; wait"#, "hook", pids.path, term.path],
            timeout: .milliseconds(300))
        let error = try await #require(throws: SanpathError.self) { try await sink.deliver(AlertSamples.nicDown()) }
        #expect(error.code == .delivery)
        #expect(error.message.contains("did not finish within 0.3 s"))
        // both processes of the group go (SIGTERM now; SIGKILL two seconds later at the latest)
        let ids = try String(contentsOf: pids, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(ids.count == 2)
        try await eventually { ids.allSatisfy { !isRunning($0) } }
        // the program saw the SIGTERM: it was not blocked, it was not a SIGKILL
        #expect(try String(contentsOf: term, encoding: .utf8) == "TERM\n")
    }

    @Test("the program starts with no signal blocked or ignored, in its own process group, stdin empty")
    func cleanStart() async throws {
        let folder = try temporaryFolder()
        let out = folder.appendingPathComponent("status")
        let sink = ExecSink(
            argv: ["/bin/sh", "-c", #"grep -E '^Sig(Blk|Ign):' /proc/self/status > "$1"; ps -o pgid= -p $$ | tr -d ' ' >> "$1"; echo $$ >> "$1"; cat >> "$1""#, "hook", out.path])
        try await sink.deliver(AlertSamples.nicDown())
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines.first == "SigBlk:\t0000000000000000")
        // no standard signal (1-31) ignored; glibc keeps its two internal ones (32, 33) to itself
        let ignored = UInt64(lines.dropFirst().first?.split(separator: "\t").last ?? "", radix: 16)
        #expect(ignored.map { $0 & 0x7fff_ffff } == 0)
        // process group = its own pid
        #expect(lines.count == 4 && lines[2] == lines[3])
    }

    @Test("the program must be an absolute path: no PATH lookup, no surprises")
    func relativeProgram() async throws {
        let error = try await #require(throws: SanpathError.self) { try await ExecSink(argv: ["sh", "-c", "true"]).deliver(AlertSamples.nicDown()) }
        #expect(error.message.contains("absolute"))
        let missing = try await #require(throws: SanpathError.self) {
            try await ExecSink(argv: ["/nonexistent/page"]).deliver(AlertSamples.nicDown())
        }
        #expect(missing.message.contains("cannot run /nonexistent/page"))
    }
}

/// Whether a process exists and is not a zombie.
private func isRunning(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    // the state letter follows the parenthesised command name
    guard let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}
