import Dispatch
import Foundation
import SanpathCore
#if os(Linux)
import Glibc
#endif

/// multipathd's command socket, spoken as libmpathcmd does: a native `size_t` length, then the
/// command with its trailing NUL; the reply comes framed the same way. Plain POSIX sockets; the
/// blocking I/O runs on a dispatch queue, never on the cooperative pool.
public struct MultipathdSocket: MultipathdClient {
    /// Where multipathd listens.
    public enum Address: Sendable, Hashable, CustomStringConvertible {
        /// An abstract unix socket (the name without the leading NUL).
        case abstract(String)
        /// A unix socket file.
        case path(String)

        /// `@name` for an abstract socket (as `ss -x` shows it), the path for a socket file.
        public var description: String {
            switch self {
            case .abstract(let name): "@\(name)"
            case .path(let path): path
            }
        }
    }

    /// multipathd's abstract socket (all versions; multipath-tools `DEFAULT_SOCKET`).
    public static let abstractAddress = Address.abstract("/org/kernel/linux/storage/multipathd")
    /// The socket file multipathd 0.12 and later also listen on.
    public static let pathAddress = Address.path("/run/multipathd.socket")
    /// libmpathcmd's reply size limit (enough for `show maps json` of >10,000 maps).
    public static let maximumReply = 32 * 1024 * 1024

    /// Addresses tried in order; a socket file is tried only if it exists.
    public var addresses: [Address]
    /// Seconds allowed for connect, send and the whole reply (libmpathcmd's default is 4 s).
    public var timeout: Double

    /// Creates a client.
    public init(addresses: [Address] = [MultipathdSocket.abstractAddress, MultipathdSocket.pathAddress], timeout: Double = 4) {
        self.addresses = addresses
        self.timeout = timeout
    }

    /// Sends one command (`show maps json`) and returns the reply without its trailing NUL.
    public func command(_ command: String) async throws -> String {
        let addresses = self.addresses
        let timeout = self.timeout
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try Self.exchange(command, addresses: addresses, timeout: timeout) })
            }
        }
    }

    static func exchange(_ command: String, addresses: [Address], timeout: Double) throws -> String {
        let deadline = MonotonicClock.now() + timeout
        var failures: [String] = []
        for address in addresses {
            if case .path(let path) = address, !FileManager.default.fileExists(atPath: path) { continue }
            let fd: Int32
            do {
                fd = try connect(to: address)
            } catch let error as Errno {
                failures.append("\(address): \(error)")
                continue
            }
            defer { close(fd) }
            var payload = Array(command.utf8)
            payload.append(0)
            var length = payload.count
            let header = withUnsafeBytes(of: &length) { Array($0) }
            do {
                try send(header + payload, on: fd, deadline: deadline)
                let replyHeader = try receive(MemoryLayout<Int>.size, on: fd, deadline: deadline)
                let replyLength = replyHeader.withUnsafeBytes { $0.loadUnaligned(as: Int.self) }
                guard replyLength >= 0, replyLength <= maximumReply else {
                    throw SanpathError(
                        .malformedReply, "multipathd on \(address) announced a reply of \(replyLength) bytes (limit \(maximumReply))")
                }
                var reply = try receive(replyLength, on: fd, deadline: deadline)
                if reply.last == 0 { reply.removeLast() }
                return String(decoding: reply, as: UTF8.self)
            } catch let error as Errno {
                throw SanpathError(
                    .multipathd, "multipathd on \(address) did not answer '\(command)': \(error)",
                    underlying: error)
            }
        }
        throw SanpathError(
            .multipathd,
            "multipathd is not running or not reachable (\(failures.isEmpty ? "no socket" : failures.joined(separator: "; "))); "
                + "start it with 'systemctl start multipathd'")
    }

    /// An errno with the call it came from, or a timeout.
    struct Errno: Error, CustomStringConvertible {
        var call: String
        var code: Int32
        var description: String { code == ETIMEDOUT ? "\(call): timed out" : "\(call): \(String(cString: strerror(code)))" }
    }

    static func connect(to address: Address) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Errno(call: "socket", code: errno) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let name: [UInt8]
        switch address {
        case .abstract(let text): name = [0] + Array(text.utf8)
        case .path(let text): name = Array(text.utf8) + [0]
        }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard name.count <= capacity else {
            close(fd)
            throw Errno(call: "connect", code: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: name) }
        // Abstract names are not NUL-terminated: the length says where they end (as libmpathcmd does).
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count)
        let result = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw Errno(call: "connect", code: code)
        }
        return fd
    }

    /// Waits until `fd` is ready for `events` or the deadline passes.
    static func wait(_ fd: Int32, for events: Int32, deadline: Double) throws {
        while true {
            let remaining = deadline - MonotonicClock.now()
            guard remaining > 0 else { throw Errno(call: "poll", code: ETIMEDOUT) }
            var entry = pollfd(fd: fd, events: Int16(events), revents: 0)
            let ready = poll(&entry, 1, Int32(min(remaining * 1000, Double(Int32.max)).rounded(.up)))
            if ready < 0 {
                if errno == EINTR { continue }
                throw Errno(call: "poll", code: errno)
            }
            if ready > 0 { return }
        }
    }

    static func send(_ bytes: [UInt8], on fd: Int32, deadline: Double) throws {
        var offset = 0
        while offset < bytes.count {
            try wait(fd, for: Int32(POLLOUT), deadline: deadline)
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if sent < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw Errno(call: "send", code: errno)
            }
            offset += sent
        }
    }

    static func receive(_ count: Int, on fd: Int32, deadline: Double) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            try wait(fd, for: Int32(POLLIN), deadline: deadline)
            let received = bytes[offset...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if received < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw Errno(call: "recv", code: errno)
            }
            if received == 0 { throw Errno(call: "recv", code: ECONNRESET) }
            offset += received
        }
        return bytes
    }
}
