#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SanpathCore
import Synchronization

/// Where whole lines of text go: stdout, stderr, or memory in tests. A line is written in one
/// piece, so lines from concurrent writers never interleave.
public protocol LineWriter: Sendable {
    /// Writes `line` and a newline; throws when the output is gone (a closed pipe).
    func write(line: String) throws(SanpathError)
}

/// A line writer on a file descriptor (`standardOutput`, `standardError`).
public final class FileDescriptorLineWriter: LineWriter {
    /// The process's standard output.
    public static let standardOutput = FileDescriptorLineWriter(descriptor: 1, name: "stdout")
    /// The process's standard error.
    public static let standardError = FileDescriptorLineWriter(descriptor: 2, name: "stderr")

    private let descriptor: Int32
    private let name: String
    // one writer at a time: a partial write must be finished before another line starts
    private let lock = Mutex(())

    /// A writer on an open descriptor it does not own (it is never closed here).
    public init(descriptor: Int32, name: String) {
        self.descriptor = descriptor
        self.name = name
    }

    public func write(line: String) throws(SanpathError) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        let failure = lock.withLock { _ in writeAll(descriptor, bytes) }
        if let failure {
            throw SanpathError(.io, "cannot write to \(name): \(String(cString: strerror(failure)))")
        }
    }
}

/// Lines kept in memory, for tests and for anything that wants to look at what was written.
public final class InMemoryLineWriter: LineWriter {
    private let storage = Mutex<[String]>([])

    /// An empty writer.
    public init() {}

    public func write(line: String) throws(SanpathError) {
        storage.withLock { $0.append(line) }
    }

    /// Every line written so far, in order.
    public var lines: [String] { storage.withLock { $0 } }
}

/// Writes every byte, retrying after EINTR and partial writes; the errno of a failure, or nil.
private func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Int32? {
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { buffer in
            write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
        }
        if written < 0 {
            if errno == EINTR { continue }
            return errno
        }
        offset += written
    }
    return nil
}
