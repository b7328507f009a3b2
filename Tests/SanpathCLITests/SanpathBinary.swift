import Foundation
import Testing

/// The built `sanpath` binary and the repository, for tests that run the real command line.
enum SanpathBinary {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let templates = repository.appendingPathComponent("templates").path

    /// `sanpath` next to the test bundle in the build products directory.
    static let path: String = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("sanpath").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return repository.appendingPathComponent(".build/debug/sanpath").path
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + stderr }
    }

    /// Runs sanpath with the repository's templates, with `environment` added to this process's;
    /// `killAfter` seconds sends SIGKILL (a signalled run's status is 128 + the signal).
    static func run(
        _ arguments: [String], templates: Bool = true, environment extra: [String: String] = [:], killAfter: Double? = nil
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments + (templates && !arguments.contains("--help") && arguments.first != "rollback" ? ["--templates", Self.templates] : [])
        var environment = ProcessInfo.processInfo.environment
        environment["NO_COLOR"] = "1"
        environment.merge(extra) { _, new in new }
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // read both pipes while the process runs, so a large plan cannot block it
        let outData = LockedData()
        let errData = LockedData()
        let group = DispatchGroup()
        for (pipe, box) in [(out, outData), (err, errData)] {
            group.enter()
            DispatchQueue.global().async {
                box.value = pipe.fileHandleForReading.readDataToEndOfFile()
                group.leave()
            }
        }
        if let killAfter {
            usleep(UInt32(killAfter * 1_000_000))
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        group.wait()
        return Result(
            status: process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus, stdout: String(decoding: outData.value, as: UTF8.self),
            stderr: String(decoding: errData.value, as: UTF8.self))
    }

    final class LockedData: @unchecked Sendable {
        var value = Data()
    }
}

/// A host tree copied to a temporary directory.
struct HostTree {
    let root: URL

    /// Copies `source` (a directory) to a fresh temporary directory.
    init(copying source: URL) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-test-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: root)
    }

    /// Every regular file under the root (relative path → bytes), optionally skipping a prefix.
    func files(skipping prefix: String? = nil) throws -> [String: Data] {
        var out: [String: Data] = [:]
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else {
            return out
        }
        for case let url as URL in enumerator {
            guard try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true else { continue }
            let relative = String(url.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count + 1))
            if let prefix, relative.hasPrefix(prefix) { continue }
            out[relative] = try Data(contentsOf: url)
        }
        return out
    }

    func mode(_ relative: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent(relative).path)
        return (attributes[.posixPermissions] as? Int) ?? -1
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}
