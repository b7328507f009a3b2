#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SanpathCore
import SystemPackage

/// Owner and permission bits of a file, kept across an apply.
public struct FileInfo: Sendable, Hashable, Codable {
    /// Permission bits (e.g. 0o644).
    public var mode: UInt32
    /// Owner.
    public var uid: UInt32
    /// Group.
    public var gid: UInt32

    /// Creates file info.
    public init(mode: UInt32, uid: UInt32, gid: UInt32) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
    }
}

/// The host's files as sanpath sees them. Paths are host paths (`/etc/multipath.conf`); an
/// implementation may resolve them under a root directory (`--root`).
public protocol HostFileSystem: Sendable {
    /// The real path of a host path, for messages.
    func resolve(_ path: String) -> String
    /// The file's bytes, or nil when it does not exist.
    func read(_ path: String) throws(SanpathError) -> [UInt8]?
    /// Owner and mode, or nil when the file does not exist.
    func info(_ path: String) throws(SanpathError) -> FileInfo?
    /// Whether a directory exists.
    func isDirectory(_ path: String) -> Bool
    /// Entry names in a directory (empty when it does not exist).
    func list(_ path: String) -> [String]
    /// Replaces the file atomically: temp file in the same directory, fsync, rename, fsync the
    /// directory. Owner and mode are set before the rename.
    func write(_ path: String, _ bytes: [UInt8], info: FileInfo) throws(SanpathError)
    /// Removes a file (no error when it is already gone).
    func remove(_ path: String) throws(SanpathError)
    /// Removes a directory and everything in it, symlinks as links (no error when it is gone).
    func removeTree(_ path: String) throws(SanpathError)
    /// Bytes an unprivileged writer may still use on the file system holding `path` (its nearest
    /// existing folder), or nil when that cannot be known.
    func availableBytes(_ path: String) -> UInt64?
    /// Removes the temp files that writes killed before their rename left in a directory.
    func removeLeftovers(in directory: String) throws(SanpathError)
    /// Creates a directory and its parents.
    func createDirectory(_ path: String, mode: UInt32) throws(SanpathError)
    /// Takes an exclusive lock (flock) on a lock file until the returned value is released.
    func lock(_ path: String) throws(SanpathError) -> FileLock
}

/// An exclusive flock held until `release()` or deinit.
public final class FileLock: @unchecked Sendable {
    private var descriptor: Int32

    init(descriptor: Int32) { self.descriptor = descriptor }

    /// Releases the lock.
    public func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

/// The real file system, optionally under a root directory. Under a root, no path may lead out of
/// it through a symlink (a captured host's `/etc/multipath.conf -> /etc/...` would otherwise read
/// or overwrite this machine's file): reads, writes, removals and locks refuse such a path with
/// `.io`; `list` and `isDirectory` see nothing there.
public struct LocalFileSystem: HostFileSystem {
    /// `--root`: every host path resolves under it.
    public let root: String?

    /// Creates the file system view.
    public init(root: String? = nil) {
        self.root = root.map { $0.hasSuffix("/") && $0.count > 1 ? String($0.dropLast()) : $0 }
    }

    public func resolve(_ path: String) -> String {
        guard let root else { return path }
        return root + (path.hasPrefix("/") ? path : "/" + path)
    }

    /// The real path of a host path, refused when it resolves outside the root: the deepest part
    /// of it that exists is resolved (every symlink followed) and must stay under the root's own
    /// real path. A symlink whose target does not exist is refused too (open would create it).
    func confined(_ path: String) throws(SanpathError) -> String {
        let real = resolve(path)
        guard let root, let rootReal = LocalFileSystem.realPath(root) else { return real }
        var probe = real
        var st = stat()
        while lstat(probe, &st) != 0 {
            guard let slash = probe.lastIndex(of: "/"), slash > probe.startIndex else { return real }
            probe = String(probe[..<slash])
        }
        guard let resolved = LocalFileSystem.realPath(probe) else {
            throw SanpathError(.io, "refusing \(real): a symlink on the way does not resolve (under --root \(root))")
        }
        guard resolved == rootReal || resolved.hasPrefix(rootReal == "/" ? "/" : rootReal + "/") else {
            throw SanpathError(.io, "refusing \(real): it leads out of --root \(root) through a symlink (to \(resolved))")
        }
        return real
    }

    static func realPath(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    static func errnoError(_ what: String, _ path: String, _ code: Int32 = errno) -> SanpathError {
        SanpathError(.io, "\(what) \(path): \(String(cString: strerror(code)))")
    }

    public func read(_ path: String) throws(SanpathError) -> [UInt8]? {
        let real = try confined(path)
        let fd = open(real, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw LocalFileSystem.errnoError("cannot read", real)
        }
        let file = FileDescriptor(rawValue: fd)
        defer { try? file.close() }  // read-only: a close error loses nothing
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            // swift-system retries after EINTR
            let n: Int
            do { n = try buffer.withUnsafeMutableBytes { try file.read(into: $0) } } catch {
                throw SanpathError(.io, "cannot read \(real): \(error)", underlying: error)
            }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }

    public func info(_ path: String) throws(SanpathError) -> FileInfo? {
        var st = stat()
        let real = try confined(path)
        if stat(real, &st) != 0 {
            if errno == ENOENT { return nil }
            throw LocalFileSystem.errnoError("cannot stat", real)
        }
        return FileInfo(mode: UInt32(st.st_mode) & 0o7777, uid: st.st_uid, gid: st.st_gid)
    }

    public func isDirectory(_ path: String) -> Bool {
        var st = stat()
        guard let real = try? confined(path) else { return false }  // out of the root: not there
        return stat(real, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public func list(_ path: String) -> [String] {
        guard let real = try? confined(path), let dir = opendir(real) else { return [] }  // out of the root: not there
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func write(_ path: String, _ bytes: [UInt8], info: FileInfo) throws(SanpathError) {
        let real = resolve(path)
        let slash = real.lastIndex(of: "/")
        let directory = slash.map { String(real[..<$0]) }.flatMap { $0.isEmpty ? "/" : $0 } ?? "."
        let name = slash.map { String(real[real.index(after: $0)...]) } ?? real
        try createDirectory(String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]), mode: 0o755)
        let temp = "\(directory)/\(LocalFileSystem.tempPrefix(name))\(getpid())"
        CrashSteps.step("create \(temp)")
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LocalFileSystem.errnoError("cannot create", temp) }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        CrashSteps.step("write \(temp)")
        do {
            // every byte, after partial writes and EINTR (swift-system)
            _ = try FileDescriptor(rawValue: fd).writeAll(bytes)
        } catch {
            close(fd)
            throw SanpathError(.io, "cannot write \(temp): \(error)", underlying: error)
        }
        // owner first: chown may clear set-id bits that fchmod then sets back
        if fchown(fd, info.uid, info.gid) != 0, geteuid() == 0 {
            let code = errno
            close(fd)
            throw LocalFileSystem.errnoError("cannot set the owner of", temp, code)
        }
        if fchmod(fd, mode_t(info.mode)) != 0 {
            let code = errno
            close(fd)
            throw LocalFileSystem.errnoError("cannot set the mode of", temp, code)
        }
        CrashSteps.step("fsync \(temp)")
        if fsync(fd) != 0 {
            let code = errno
            close(fd)
            throw LocalFileSystem.errnoError("cannot fsync", temp, code)
        }
        close(fd)
        CrashSteps.step("rename \(temp) to \(real)")
        guard rename(temp, real) == 0 else { throw LocalFileSystem.errnoError("cannot rename \(temp) to", real) }
        ok = true
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            CrashSteps.step("fsync \(directory)")
            fsync(dirfd)
            close(dirfd)
        }
    }

    public func remove(_ path: String) throws(SanpathError) {
        let real = try confined(path)
        CrashSteps.step("unlink \(real)")
        if unlink(real) != 0, errno != ENOENT { throw LocalFileSystem.errnoError("cannot remove", real) }
    }

    public func createDirectory(_ path: String, mode: UInt32) throws(SanpathError) {
        // every component of the real path, the root's own included (mkdir -p)
        let real = try confined(path)
        var current = real.hasPrefix("/") ? "" : "."
        for component in real.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode_t(mode)) != 0, errno != EEXIST {
                throw LocalFileSystem.errnoError("cannot create directory", current)
            }
        }
    }

    public func lock(_ path: String) throws(SanpathError) -> FileLock {
        try createDirectory(String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]), mode: 0o700)
        let real = try confined(path)
        let fd = open(real, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw LocalFileSystem.errnoError("cannot open lock file", real) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw SanpathError(.state, "another sanpath apply or rollback holds \(real); wait for it to finish")
        }
        return FileLock(descriptor: fd)
    }

    /// The name of a write's temp file, before the writer's pid.
    static func tempPrefix(_ name: String) -> String { ".\(name).sanpath-" }

    public func removeTree(_ path: String) throws(SanpathError) {
        let real = try confined(path)
        var st = stat()
        guard lstat(real, &st) == 0 else { return }
        try LocalFileSystem.removeTree(real: real, isDirectory: (st.st_mode & S_IFMT) == S_IFDIR)
    }

    static func removeTree(real: String, isDirectory: Bool) throws(SanpathError) {
        if isDirectory {
            guard let dir = opendir(real) else { throw errnoError("cannot open directory", real) }
            var entries: [(String, Bool)] = []
            while let entry = readdir(dir) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                guard name != "." && name != ".." else { continue }
                var st = stat()
                let child = real + "/" + name
                if lstat(child, &st) == 0 { entries.append((child, (st.st_mode & S_IFMT) == S_IFDIR)) }
            }
            closedir(dir)
            for (child, childIsDirectory) in entries { try removeTree(real: child, isDirectory: childIsDirectory) }
            CrashSteps.step("rmdir \(real)")
            if rmdir(real) != 0, errno != ENOENT { throw errnoError("cannot remove directory", real) }
        } else {
            CrashSteps.step("unlink \(real)")
            if unlink(real) != 0, errno != ENOENT { throw errnoError("cannot remove", real) }
        }
    }

    public func removeLeftovers(in directory: String) throws(SanpathError) {
        for name in list(directory) where name.hasPrefix(".") && name.contains(".sanpath-") {
            try remove("\(directory)/\(name)")
        }
    }

    public func availableBytes(_ path: String) -> UInt64? {
        var probe = resolve(path)
        var st = statvfs()
        while statvfs(probe, &st) != 0 {
            guard let slash = probe.lastIndex(of: "/") else { return nil }
            probe = slash == probe.startIndex ? "/" : String(probe[..<slash])
            if probe == "/" { return statvfs("/", &st) == 0 ? UInt64(st.f_bavail) * UInt64(st.f_frsize) : nil }
        }
        return UInt64(st.f_bavail) * UInt64(st.f_frsize)
    }
}
