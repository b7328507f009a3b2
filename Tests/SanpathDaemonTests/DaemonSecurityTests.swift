import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SanpathCore
import SanpathDaemon
import SanpathHealth
import Testing

/// What the daemon exposes and what it keeps: HTTP on loopback unless configured, its SQLite state
/// readable by root alone, and alert data that reaches a hook as bytes, never as shell text.
@Suite("daemon security", .timeLimit(.minutes(1)), .temporaryFolders)
struct DaemonSecurityTests {
    /// Local addresses of listening TCP sockets, from /proc/net/tcp and tcp6 (hex, as the kernel writes them).
    static func listeningSockets() throws -> [String] {
        var out: [String] = []
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                if fields.count > 3, fields[3] == "0A" { out.append(String(fields[1])) }
            }
        }
        return out
    }

    @Test("/metrics and /status listen on 127.0.0.1 unless the config or --listen says otherwise")
    func loopbackByDefault() async throws {
        // the defaults, and a config file that does not name an address
        #expect(MonitorConfig().listen == ListenAddress(host: "127.0.0.1", port: 9478))
        #expect(try MonitorConfig.parse("resync_interval = \"60s\"\n", source: "monitor.toml").listen.host == "127.0.0.1")
        #expect(try MonitorConfig.parse("[http]\nlisten = \"0.0.0.0:9100\"\n", source: "monitor.toml").listen.host == "0.0.0.0")
        // the server built from the default host binds that host only (port 0: the kernel's choice)
        try await MonitorHTTPTests.serving(host: MonitorConfig().listen.host, MonitorHTTPTests().endpoints()) { port in
            let hexPort = String(format: "%04X", port)
            let bound = try Self.listeningSockets().filter { $0.hasSuffix(":" + hexPort) }
            #expect(bound == ["0100007F:" + hexPort], "listening as \(bound)")
        }
    }

    @Test("the state database is 0600 in a 0700 folder, whatever the umask")
    func stateDatabaseMode() async throws {
        let folder = try temporaryFolder().appendingPathComponent("state")
        let path = folder.appendingPathComponent("monitor.sqlite").path
        let old = umask(0o022)
        defer { umask(old) }
        let database = try StateDatabase(path: path)
        try await Outbox(database: database).enqueue([AlertSamples.nicDown()], for: ["log"])
        // the write-ahead log holds the alert too (and the shared-memory index): 0600 as well
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(names.contains("monitor.sqlite-wal"), "\(names)")
        for name in names {
            let mode = try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(name) is \(String(mode ?? 0, radix: 8))")
        }
        let folderMode = try FileManager.default.attributesOfItem(atPath: folder.path)[.posixPermissions] as? Int
        #expect(folderMode == 0o700)
    }

    /// Names an array or an admin chose, which reach the hook's environment: quotes, command
    /// substitution, backticks, globs, newlines, a leading dash.
    static let hostile = [
        #"mpath'$(touch PWNED)'"#, "36001405\"`touch PWNED`\"", "iface0;touch PWNED\nx", "-rf *", "a\\nb $HOME ${IFS}",
    ]

    @Test("hostile map aliases, WWIDs and iface names reach the hook byte for byte, and nothing runs them")
    func hostileNames() async throws {
        let folder = try temporaryFolder()
        let dump = folder.appendingPathComponent("environ")
        // cp copies its own environment: what execve gave it, NUL-separated, no shell anywhere
        let sink = ExecSink(argv: ["/bin/cp", "/proc/self/environ", dump.path], environment: ["PATH": "/usr/bin:/bin"])
        var event = AlertSamples.nicDown()
        event.maps = Self.hostile
        event.paths = [
            PathRef(device: "sdb", map: Self.hostile[0], iface: Self.hostile[2], nic: "eth1", portal: "10.0.0.1:3260", target: Self.hostile[1]),
            PathRef(device: Self.hostile[3], map: Self.hostile[4]),
        ]
        event.summary = "NIC eth1 is down: \(Self.hostile.joined(separator: " "))"
        let cwd = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(folder.path)
        defer { FileManager.default.changeCurrentDirectoryPath(cwd) }
        try await sink.deliver(event)

        let entries = try Data(contentsOf: dump).split(separator: 0).map { Data($0) }
        let expected = ExecSink.variables(for: event).merging(["PATH": "/usr/bin:/bin"]) { $1 }
        let wanted = expected.map { Data("\($0.key)=\($0.value)".utf8) }
        #expect(Set(entries) == Set(wanted), "the hook's environment is not the alert's, byte for byte")
        #expect(entries.count == wanted.count)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("PWNED").path))
    }
}
