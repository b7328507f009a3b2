import Foundation
import Glibc
import SanpathCore
import Testing

@testable import SanpathSystem

@Suite("multipathd: show maps json and the command socket")
struct MultipathdTests {
    @Test("the lab demo's show maps json: per path dm, device and checker state")
    func demoJSON() throws {
        let maps = try MultipathdMaps(json: try Fixture.demoMapsJSON())
        #expect(maps.version == "0.1")
        let map = try #require(maps.maps["mpatha"])
        #expect(map.uuid == "36001405ab5e1ab000000000000000000")
        #expect(map.sysfsName == "dm-0")
        #expect(
            map.paths == [
                .init(device: "sdb", majorMinor: "8:16", dmState: "active", deviceState: "running", checkerState: "ready"),
                .init(device: "sda", majorMinor: "8:0", dmState: "active", deviceState: "running", checkerState: "ready"),
            ])
        #expect(maps.checkerState(map: "mpatha", majorMinor: "8:0") == "ready")
        #expect(maps.checkerState(map: "mpatha", majorMinor: "8:32") == nil)
    }

    @Test("a reply that is not the JSON (multipathd's 'fail', a truncated reply) names what is wrong")
    func malformedJSON() throws {
        let fail = try #require(throws: SanpathError.self) { try MultipathdMaps(json: "fail\n") }
        #expect(fail.code == .malformedReply)
        #expect(fail.message.contains("not JSON"))
        #expect(fail.message.contains("it starts: 'fail'"))
        let json = try Fixture.demoMapsJSON().replacingOccurrences(of: "\"chk_st\" : \"ready\",", with: "")
        let missing = try #require(throws: SanpathError.self) { try MultipathdMaps(json: json) }
        #expect(missing.message.contains("no 'chk_st' at .maps[0].path_groups[0].paths[0]"), "\(missing.message)")
    }

    @Test("the paths the daemon asks for (show paths raw format): the same checker states as show maps json, orphans left out")
    func pathsReply() throws {
        let json = try MultipathdMaps(json: try Fixture.demoMapsJSON())
        // multipathd writes an orphan's map as "[orphan]"; a checker state can hold a space
        let reply = json.pathsReply + "[orphan]|sdz|65:144|undef|running|ready\nmpathb|sdc|8:32|active|running|i/o pending\n"
        let paths = try MultipathdMaps(paths: reply)
        #expect(paths.maps["mpatha"]?.paths == json.maps["mpatha"]?.paths)
        #expect(paths.checkerState(map: "mpatha", majorMinor: "8:0") == "ready")
        #expect(paths.checkerState(map: "mpathb", majorMinor: "8:32") == "i/o pending")
        #expect(!paths.maps.keys.contains("[orphan]"))
        #expect(try MultipathdMaps(paths: "").maps.isEmpty, "no paths: no maps")
        let fail = try #require(throws: SanpathError.self) { try MultipathdMaps(paths: "fail\n") }
        #expect(fail.code == .malformedReply)
        #expect(fail.message.contains("line 1 is 'fail'"), "\(fail.message)")
    }

    @Test("a command goes out framed as libmpathcmd frames it and the reply comes back without its NUL")
    func commandRoundTrip() async throws {
        let reply = try Fixture.demoMapsJSON()
        let server = try FramedServer(reply: reply)
        let client = MultipathdSocket(addresses: [server.address], timeout: 4)
        let answer = try await client.command("show maps json")
        #expect(answer == reply)
        #expect(server.receivedCommand() == Array("show maps json".utf8) + [0])
    }

    @Test("no multipathd: an error that says so, after trying every address", .timeLimit(.minutes(1)))
    func notRunning() async throws {
        let client = MultipathdSocket(addresses: [.abstract("/sanpath-test/nobody-\(getpid())"), .path("/nonexistent/multipathd.socket")])
        let error = try await #require(throws: SanpathError.self) { try await client.command("show maps json") }
        #expect(error.code == .multipathd)
        #expect(error.message.contains("multipathd is not running"))
        #expect(error.message.contains("@/sanpath-test/nobody-\(getpid()): connect: Connection refused"))
    }

    @Test("a multipathd that accepts but never answers hits the timeout", .timeLimit(.minutes(1)))
    func timeout() async throws {
        let server = try FramedServer(reply: nil)
        let client = MultipathdSocket(addresses: [server.address], timeout: 0.3)
        let start = ContinuousClock.now
        let error = try await #require(throws: SanpathError.self) { try await client.command("show maps json") }
        let elapsed = ContinuousClock.now - start
        #expect(error.message.contains("did not answer 'show maps json': poll: timed out"), "\(error.message)")
        // it waited for its timeout (a hang is caught by the test's time limit: other tests that
        // block the cooperative pool make any wall-clock upper bound flaky)
        #expect(elapsed >= .milliseconds(280))
    }
}

/// One connection on an abstract unix socket, answered the way multipathd's uxsock does:
/// read a size_t length and that many bytes, write a size_t length and the reply with its NUL.
final class FramedServer: @unchecked Sendable {
    let address: MultipathdSocket.Address
    private let listener: Int32
    private let done = DispatchSemaphore(value: 0)
    private var command: [UInt8] = []

    init(reply: String?) throws {
        let name = "/sanpath-test/multipathd-\(getpid())-\(UUID().uuidString)"
        address = .abstract(name)
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = [UInt8(0)] + Array(name.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(self.listener, $0, length) } }
        guard bound == 0, listen(self.listener, 1) == 0 else { throw POSIXError(.EADDRINUSE) }
        let listener = self.listener
        Thread {
            let fd = accept(listener, nil, nil)
            defer {
                close(fd)
                self.done.signal()
            }
            var size = 0
            guard Self.readAll(fd, into: &size) else { return }
            var command = [UInt8](repeating: 0, count: size)
            guard command.withUnsafeMutableBytes({ Self.readAll(fd, $0) }) else { return }
            self.command = command
            guard let reply else {
                // Never answer: hold the connection until the client gives up and closes it.
                var byte: UInt8 = 0
                _ = recv(fd, &byte, 1, 0)
                return
            }
            var payload = Array(reply.utf8) + [0]
            var replySize = payload.count
            _ = withUnsafeBytes(of: &replySize) { send(fd, $0.baseAddress, $0.count, 0) }
            _ = payload.withUnsafeMutableBytes { send(fd, $0.baseAddress, $0.count, 0) }
        }.start()
    }

    deinit { close(listener) }

    /// The command bytes received (waits for the exchange to end).
    func receivedCommand() -> [UInt8] {
        done.wait()
        return command
    }

    private static func readAll(_ fd: Int32, into value: inout Int) -> Bool {
        withUnsafeMutableBytes(of: &value) { readAll(fd, $0) }
    }

    private static func readAll(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        var offset = 0
        while offset < buffer.count {
            let count = recv(fd, buffer.baseAddress! + offset, buffer.count - offset, 0)
            guard count > 0 else { return false }
            offset += count
        }
        return true
    }
}
