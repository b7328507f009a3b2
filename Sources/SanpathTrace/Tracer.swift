import Foundation
import SanpathCore

/// Reads the logs once for every id of a trace and builds each volume's flow.
public struct Tracer: Sendable {
    /// Where the logs come from.
    public let source: any LogSource
    /// Lines kept after a matching line (stack traces, an id-less error of the same request).
    public var afterContext = 10

    /// Creates a tracer.
    public init(source: any LogSource) { self.source = source }

    /// What the files read showed.
    public struct Reading: Sendable {
        /// Records per id (volume or instance).
        public var records: [String: [LogRecord]] = [:]
        /// The files read.
        public var files: [LogFile] = []
        /// True when an nc.log was read; true when one had the DEBUG layout.
        public var ncRead = false, ncDebug = false
        /// The hosts whose cloud-output.log was read.
        public var cloudHosts: Set<String> = []
    }

    /// Traces `subject` through the logs at `paths`. Throws `unknownID` when no line mentions it.
    public func trace(_ subject: TraceSubject, logs paths: [String]) throws(SanpathError) -> [VolumeTrace] {
        let files = try source.files(at: paths)
        guard !files.isEmpty else {
            throw SanpathError(
                .io, "no Eucalyptus log under \(paths.joined(separator: ", ")) (looked for cloud-output.log, cloud-cluster.log, nc.log and their .N / .N.gz rotations)")
        }
        let ids = subject.volumes + (subject.instance.map { [$0] } ?? [])
        let reading = try read(files, ids: ids)
        let instanceRecords = subject.instance.flatMap { reading.records[$0] } ?? []
        var traces: [VolumeTrace] = []
        for volume in subject.volumes {
            let records = (reading.records[volume] ?? []) + instanceRecords
            traces.append(
                VolumeFlow.build(
                    volume: volume, instance: subject.instance, records: records, ncLogsRead: reading.ncRead, ncDebug: reading.ncDebug,
                    scHostsRead: reading.cloudHosts))
        }
        if traces.allSatisfy({ $0.lineCount == 0 }) {
            let what = subject.instance.map { "\($0) (volumes \(subject.volumes.joined(separator: ", ")))" } ?? subject.volumes.joined(separator: ", ")
            let hosts = Set(files.map(\.host)).sorted().joined(separator: ", ")
            throw SanpathError(
                .unknownID,
                "no line mentions \(what) in the \(files.count) log files read (hosts: \(hosts)). Check the id (euca-describe-volumes), and pass the SC's, the CLC's and the NC's logs of that time with --logs DIR (rotated .N and .N.gz files beside them are read).")
        }
        return traces
    }

    /// Streams every file once, keeping the lines that mention an id and the lines right after them.
    /// Hosts are read side by side (one core each); one host's files in order, oldest first.
    public func read(_ files: [LogFile], ids: [String]) throws(SanpathError) -> Reading {
        let hosts = Dictionary(grouping: files, by: \.host).sorted { $0.key < $1.key }.map { $0.value.sorted(by: LogFile.readingOrder) }
        let results = HostResults(count: hosts.count)
        DispatchQueue.concurrentPerform(iterations: hosts.count) { index in
            do throws(SanpathError) {
                results.set(index, .success(try readHost(hosts[index], ids: ids)))
            } catch {
                results.set(index, .failure(error))
            }
        }
        var reading = Reading()
        reading.files = files
        for result in results.all() {
            let part = try result.get()
            for (id, records) in part.records { reading.records[id, default: []] += records }
            reading.ncRead = reading.ncRead || part.ncRead
            reading.ncDebug = reading.ncDebug || part.ncDebug
            reading.cloudHosts.formUnion(part.cloudHosts)
        }
        return reading
    }

    /// One host's files, oldest first.
    func readHost(_ files: [LogFile], ids: [String]) throws(SanpathError) -> Reading {
        var reading = Reading()
        // the NC's scClientCall "done" line names no volume: it is kept by the thread of the volume's line
        var threadSubjects: [String: [String]] = [:]
        for file in files {
            var assembler = RecordAssembler(file: file, ids: ids)
            assembler.threadSubjects = threadSubjects
            // the thread's scClientCall lines are looked for once a line of the volume names the thread
            var scanner = LineScanner(needles: ids + threadSubjects.keys.map { " \($0) scClientCall " }, afterContext: afterContext)
            try source.read(file) { (chunk: UnsafeRawBufferPointer) throws(SanpathError) in
                scanner.feed(chunk) { assembler.take($0) }
            }
            scanner.finish { assembler.take($0) }
            assembler.flush()
            threadSubjects = assembler.threadSubjects
            for (id, records) in assembler.records { reading.records[id, default: []] += records }
            if file.kind == .nc {
                reading.ncRead = true
                if assembler.sawDebugLayout { reading.ncDebug = true }
            } else {
                reading.cloudHosts.insert(file.host)
            }
        }
        return reading
    }
}

/// Each host's reading, filled from several threads.
final class HostResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<Tracer.Reading, SanpathError>?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<Tracer.Reading, SanpathError>) {
        lock.withLock { results[index] = result }
    }

    func all() -> [Result<Tracer.Reading, SanpathError>] { lock.withLock { results.compactMap { $0 } } }
}

/// Turns one file's kept lines into records and decides which id each belongs to.
struct RecordAssembler {
    let file: LogFile
    let ids: [String]
    var records: [String: [LogRecord]] = [:]
    var threadSubjects: [String: [String]] = [:]
    var sawDebugLayout = false
    /// The record being built and the ids it belongs to.
    var pending: (record: LogRecord, subjects: [String])?
    /// The last matching record's ids and thread, for context lines.
    var opener: (subjects: [String], thread: String?, time: LogTime, line: Int)?
    var lastLine = 0

    init(file: LogFile, ids: [String]) {
        self.file = file
        self.ids = ids
    }

    /// Takes a kept line; returns a needle for the scanner: the scClientCall lines of an NC thread
    /// that just logged a line of the volume.
    mutating func take(_ line: ScannedLine) -> String? {
        defer { lastLine = line.number }
        guard let parsed = LogLineParser.parse(line.text) else {
            // a continuation (multi-line message, stack trace) of the record just before it
            if pending != nil, line.number == lastLine + 1, pending!.record.continuation.count < 4 {
                pending!.record.continuation.append(LogLineParser.continuationText(line.text))
            }
            return nil
        }
        flush()
        if parsed.thread != nil { sawDebugLayout = true }
        let record = LogRecord(
            time: parsed.time, level: parsed.level, thread: parsed.thread, origin: parsed.origin, message: parsed.message,
            position: LogPosition(file: file.path, line: line.number), kind: file.kind, host: file.host)
        var subjects = ids.filter { parsed.message.contains($0) }
        var needle: String?
        if line.matched, !subjects.isEmpty {
            opener = (subjects, parsed.thread, parsed.time, line.number)
            if let thread = parsed.thread, file.kind == .nc {
                threadSubjects[thread] = subjects
                needle = " \(thread) scClientCall "
            }
        } else if file.kind == .nc, parsed.message.contains("scOps="), let thread = parsed.thread {
            subjects = threadSubjects[thread] ?? []
        } else if let opener, Self.sameRequest(opener.thread, opener.time, opener.line, parsed.thread, parsed.time, line.number) {
            subjects = opener.subjects  // an id-less error of the same request
            self.opener?.line = line.number
        }
        if !subjects.isEmpty { pending = (record, subjects) }
        return needle
    }

    /// Same thread when the layout has threads; else the same second, a few lines on (a stack trace between).
    static func sameRequest(_ thread: String?, _ time: LogTime, _ line: Int, _ otherThread: String?, _ otherTime: LogTime, _ otherLine: Int) -> Bool {
        if let thread, let otherThread { return thread == otherThread }
        return time == otherTime && otherLine - line <= 6
    }

    mutating func flush() {
        guard let pending else { return }
        for id in pending.subjects { records[id, default: []].append(pending.record) }
        self.pending = nil
    }
}
