import CompressNIO
import Foundation
import NIOCore
import SanpathCore
import SanpathTrace
import SystemPackage

/// Log files on this machine: plain files read with read(2) in 1 MiB chunks, `.gz` files inflated
/// as they stream (compress-nio over zlib); nothing is loaded whole.
public struct LocalLogSource: LogSource {
    /// Bytes per read(2).
    public var chunkSize = 1 << 20
    /// How deep a `--logs` folder is searched (DIR/host/file is 1 level below).
    public var depth = 3

    /// Creates the source.
    public init() {}

    public func files(at paths: [String]) throws(SanpathError) -> [LogFile] {
        var found: [LogFile] = []
        let manager = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw SanpathError(.io, "--logs \(path): no such file or folder")
            }
            if isDirectory.boolValue {
                found += walk(path, relative: "", rootName: URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent, level: 0)
            } else {
                let url = URL(fileURLWithPath: path)
                let folder = url.deletingLastPathComponent().path
                let name = url.lastPathComponent
                let host = url.deletingLastPathComponent().standardizedFileURL.lastPathComponent
                let siblings = (try? manager.contentsOfDirectory(atPath: folder)) ?? []
                guard LogFile(path: path, host: host) != nil else {
                    throw SanpathError(.io, "--logs \(path): not a Eucalyptus log name (cloud-output.log, cloud-cluster.log, nc.log, with .N or .N.gz)")
                }
                // the file named and its rotations beside it
                let base = name.hasSuffix(".gz") ? String(name.dropLast(3)) : name
                let stem = base.split(separator: ".").prefix(2).joined(separator: ".")
                for sibling in siblings where sibling == name || sibling.hasPrefix(stem + ".") {
                    let siblingPath = path.hasSuffix(name) ? String(path.dropLast(name.count)) + sibling : folder + "/" + sibling
                    if let file = LogFile(path: siblingPath, host: host) { found.append(file) }
                }
            }
        }
        var seen = Set<String>()
        return found.filter { seen.insert($0.path).inserted }.sorted(by: LogFile.readingOrder)
    }

    func walk(_ folder: String, relative: String, rootName: String, level: Int) -> [LogFile] {
        guard level <= depth, let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var out: [LogFile] = []
        for entry in entries.sorted() {
            let path = folder.hasSuffix("/") ? folder + entry : folder + "/" + entry
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                out += walk(path, relative: relative.isEmpty ? entry : relative + "/" + entry, rootName: rootName, level: level + 1)
            } else if let file = LogFile(path: path, host: relative.isEmpty ? rootName : relative) {
                out.append(file)
            }
        }
        return out
    }

    public func read(_ file: LogFile, chunk: (UnsafeRawBufferPointer) throws(SanpathError) -> Void) throws(SanpathError) {
        let descriptor: SystemPackage.FileDescriptor
        do {
            descriptor = try SystemPackage.FileDescriptor.open(SystemPackage.FilePath(file.path), .readOnly)
        } catch {
            throw SanpathError(.io, "cannot open \(file.path)", underlying: error)
        }
        defer { try? descriptor.close() }
        if file.compressed {
            try inflate(descriptor, path: file.path, chunk: chunk)
            return
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count: Int
            do {
                count = try descriptor.read(into: buffer)
            } catch {
                throw SanpathError(.io, "cannot read \(file.path)", underlying: error)
            }
            if count == 0 { return }
            try chunk(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }

    /// Inflates a gzip file chunk by chunk; a file of several gzip members (`cat a.gz b.gz`) is read whole.
    func inflate(_ descriptor: SystemPackage.FileDescriptor, path: String, chunk: (UnsafeRawBufferPointer) throws(SanpathError) -> Void) throws(SanpathError) {
        let allocator = ByteBufferAllocator()
        var input = allocator.buffer(capacity: chunkSize)
        var output = allocator.buffer(capacity: chunkSize * 4)
        let decompressor: ZlibDecompressor
        do {
            decompressor = try ZlibDecompressor(algorithm: .gzip)
        } catch {
            throw SanpathError(.io, "cannot start gzip for \(path)", underlying: error)
        }
        var restarted = false
        while true {
            input.discardReadBytes()
            let count: Int
            do {
                count = try input.writeWithUnsafeMutableBytes(minimumWritableBytes: chunkSize) { pointer in
                    try descriptor.read(into: UnsafeMutableRawBufferPointer(rebasing: pointer[0..<min(pointer.count, chunkSize)]))
                }
            } catch {
                throw SanpathError(.io, "cannot read \(path)", underlying: error)
            }
            if count == 0 { return }
            while input.readableBytes > 0 {
                output.clear()
                let before = input.readableBytes
                do {
                    try decompressor.inflate(from: &input, to: &output)
                } catch let error as CompressNIOError where error == .bufferOverflow || error == .inputBufferOverflow {
                    // the output window is full, or the input ends mid-stream: both go on
                } catch {
                    throw SanpathError(.io, "\(path) is not valid gzip data", underlying: error)
                }
                if output.readableBytes > 0 {
                    var failure: SanpathError?
                    output.withUnsafeReadableBytes { bytes in
                        do throws(SanpathError) { try chunk(bytes) } catch { failure = error }
                    }
                    if let failure { throw failure }
                }
                if input.readableBytes == before, output.readableBytes == 0 {
                    // the stream ended and bytes follow: another gzip member (`cat a.gz b.gz`)
                    if restarted { throw SanpathError(.io, "\(path): trailing bytes after the gzip data") }
                    do { try decompressor.reset() } catch { throw SanpathError(.io, "cannot restart gzip for \(path)", underlying: error) }
                    restarted = true
                    continue
                }
                restarted = false
            }
        }
    }
}
