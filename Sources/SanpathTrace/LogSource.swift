import SanpathCore

/// One log file to read: where it is, which program wrote it, which host it belongs to, and its
/// place among the rotated files of the same log (higher = older).
public struct LogFile: Sendable, Hashable, Codable {
    /// The path, as shown in evidence (`file:line`).
    public var path: String
    /// Which program wrote it.
    public var kind: LogKind
    /// The host label: the folder the file was found in, relative to the `--logs` folder.
    public var host: String
    /// 0 for the live file; N for `name.N` and `name.N.gz`.
    public var generation: Int
    /// True for a `.gz` file.
    public var compressed: Bool

    /// Creates a file entry.
    public init(path: String, kind: LogKind, host: String, generation: Int, compressed: Bool) {
        self.path = path
        self.kind = kind
        self.host = host
        self.generation = generation
        self.compressed = compressed
    }

    /// Recognises Eucalyptus' log names and their rotations: `cloud-output.log`, `cloud-cluster.log`,
    /// `nc.log`, each with `.N` (log4j and util/log.c) or `.N.gz` (a site logrotate with `compress`).
    public init?(path: String, host: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        var rest = Substring(name)
        let compressed = rest.hasSuffix(".gz")
        if compressed { rest = rest.dropLast(3) }
        let kinds: [(String, LogKind)] = [("cloud-output.log", .cloudOutput), ("cloud-cluster.log", .cloudOutput), ("nc.log", .nc)]
        guard let (base, kind) = kinds.first(where: { rest.hasPrefix($0.0) }) else { return nil }
        rest = rest.dropFirst(base.count)
        var generation = 0
        if !rest.isEmpty {
            guard rest.first == ".", let number = Int(rest.dropFirst()), number >= 0 else { return nil }
            generation = number + 1  // nc.log.0 is older than nc.log; .N.gz and .N count alike
        } else if compressed {
            generation = 1
        }
        self.init(path: path, kind: kind, host: host, generation: generation, compressed: compressed)
    }

    /// The log this file is a rotation of (`host` + base name), for grouping.
    public var logName: String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let base = name.split(separator: ".").prefix(2).joined(separator: ".")
        return host + "/" + base
    }
}

/// Where the logs come from: the boundary between the trace and the file system.
public protocol LogSource: Sendable {
    /// The log files under each path (a folder, searched a few levels deep, or one file with its
    /// rotations beside it), each host's files oldest first.
    func files(at paths: [String]) throws(SanpathError) -> [LogFile]
    /// Streams one file's bytes (decompressed) chunk by chunk; memory stays flat in its size.
    func read(_ file: LogFile, chunk: (UnsafeRawBufferPointer) throws(SanpathError) -> Void) throws(SanpathError)
}

extension LogFile {
    /// Orders files for reading: by host and log, oldest rotation first, so lines of one host come in
    /// the order they were written even within one second.
    public static func readingOrder(_ lhs: LogFile, _ rhs: LogFile) -> Bool {
        if lhs.logName != rhs.logName { return lhs.logName < rhs.logName }
        return lhs.generation > rhs.generation
    }
}
