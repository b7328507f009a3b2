import Foundation
import SanpathCore
import SanpathDaemon
import SanpathHealth
import Synchronization
import Testing

/// Alert events shaped like the engine's: a NIC that took two paths of two maps down.
enum AlertSamples {
    static let started = Date(timeIntervalSince1970: 1_780_000_000.125)

    static func nicDown(
        _ state: AlertEvent.State = .firing, severity: Severity = .warning, nic: String = "eth1", suffix: String = ""
    ) -> AlertEvent {
        let key = "nic-down:\(nic)"
        return AlertEvent(
            id: "\(key)@1780000000125/\(state.rawValue)\(suffix)", alertKey: key,
            time: state == .firing ? started : started.addingTimeInterval(90), state: state, kind: "nic-down", severity: severity,
            summary: (state == .resolved ? "resolved: " : "") + "NIC \(nic) is down: 2 paths of mpatha, mpathb lost",
            maps: ["mpatha", "mpathb"],
            paths: [
                PathRef(device: "sdb", map: "mpatha", iface: "iface1", nic: nic, portal: "10.108.1.200:3260", target: "iqn.2001-05.com.equallogic:vol1"),
                PathRef(device: "sdd", map: "mpathb"),
            ],
            startedAt: started)
    }

    /// The n-th event of a series, for ordering tests.
    static func numbered(_ n: Int) -> AlertEvent {
        AlertEvent(
            id: "path-lost:sd\(n)@1/firing", alertKey: "path-lost:sd\(n)", time: started.addingTimeInterval(Double(n)), state: .firing,
            kind: "path-lost", severity: .warning, summary: "path \(n) lost", maps: ["mpatha"], paths: [PathRef(device: "sd\(n)", map: "mpatha")],
            startedAt: started)
    }
}

/// A sink that fails its first `failures` attempts, then records what it gets.
final class FlakySink: AlertSink {
    let name: String
    private let remainingFailures: Mutex<Int>
    private let log = Mutex<[String]>([])
    private let attemptCount = Mutex(0)

    init(name: String = "flaky", failures: Int = 0) {
        self.name = name
        self.remainingFailures = Mutex(failures)
    }

    func deliver(_ event: AlertEvent) async throws {
        attemptCount.withLock { $0 += 1 }
        let fail = remainingFailures.withLock { remaining -> Bool in
            guard remaining > 0 else { return false }
            remaining -= 1
            return true
        }
        if fail { throw SanpathError(.delivery, "sink is down") }
        log.withLock { $0.append(event.id) }
    }

    /// Ids of the events delivered, in order (repeats included).
    var delivered: [String] { log.withLock { $0 } }
    /// Makes the next `times` attempts fail.
    func fail(times: Int) { remainingFailures.withLock { $0 += times } }
    /// Every attempt, failed or not.
    var attempts: Int { attemptCount.withLock { $0 } }
}

/// A sink whose delivery never finishes until the task is cancelled.
struct StuckSink: AlertSink {
    let name = "stuck"
    func deliver(_ event: AlertEvent) async throws {
        try await Task.sleep(for: .seconds(3_600))
    }
}

/// Waits until `condition` holds, checking every 10 ms. The suites' time limits bound it; no
/// assertion depends on how long it takes.
func eventually(_ condition: () async throws -> Bool) async throws {
    while try await !condition() {
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// A fresh folder: inside the test's own folder under `.temporaryFolders`, which removes it
/// when the test is over; under the temporary directory otherwise.
func temporaryFolder() throws -> URL {
    // short names inside a test's folder: unix socket paths must fit in 108 bytes
    let url = TemporaryFolders.root.map { $0.appendingPathComponent(String(UUID().uuidString.prefix(8))) }
        ?? FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-daemon-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A trait that gives each test case a folder for `temporaryFolder()` and removes it afterwards.
struct TemporaryFolders: TestTrait, SuiteTrait, TestScoping {
    @TaskLocal static var root: URL?

    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        // a suite passes through; each test case gets its own folder
        guard testCase != nil else { return try await function() }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-daemon-tests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try await TemporaryFolders.$root.withValue(root) { try await function() }
    }
}

extension Trait where Self == TemporaryFolders {
    /// Temporary folders made by a test are removed when it ends.
    static var temporaryFolders: Self { TemporaryFolders() }
}

/// Parses one JSON object.
func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

/// Runs a program to its end: exit status and what it wrote on stdout and stderr together.
func runProgram(_ executable: String, _ arguments: [String], input: URL? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let input { process.standardInput = try FileHandle(forReadingFrom: input) }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, said)
}
