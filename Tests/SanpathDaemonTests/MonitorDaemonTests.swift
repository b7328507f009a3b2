#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SanpathCore
import SanpathDaemon
import SanpathHealth
import SanpathSystem
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

/// udev events the test sends.
final class ScriptedUdev: UdevEventSource {
    let stream: AsyncStream<UdevStreamItem>
    let continuation: AsyncStream<UdevStreamItem>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream(of: UdevStreamItem.self) }

    func events() -> AsyncStream<UdevStreamItem> { stream }
}

/// Every SAN host and portal answers in a millisecond.
struct AnsweringProber: ConnectProber {
    func connect(host: String, port: Int, timeout: Double, device: String?) async -> Double? { 0.001 }
}

/// `GET path` on 127.0.0.1:port over a plain socket: the status line and the body.
func httpGet(port: Int, _ path: String) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SanpathError(.io, "socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw SanpathError(.io, "connect 127.0.0.1:\(port): \(String(cString: strerror(errno)))") }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var reply: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        reply += buffer[..<count]
    }
    return String(decoding: reply, as: UTF8.self)
}

/// The daemon as `sanpath monitor` assembles it, over fakes: it starts, says READY=1 after the
/// first scan, serves /healthz and /status, takes udev events, and stops on a graceful shutdown
/// (SIGTERM's path) saying STOPPING=1.
@Suite("the assembled daemon", .timeLimit(.minutes(1)), .temporaryFolders)
struct MonitorDaemonTests {
    @Test("startup, readiness, events and graceful shutdown of the whole service group")
    func lifecycle() async throws {
        let socket = try NotifySocket()
        let port = try freeLoopbackPort()
        var settings = MonitorConfig()
        settings.listen = ListenAddress(host: "127.0.0.1", port: port)
        settings.stateDatabase = try temporaryFolder().appendingPathComponent("monitor.sqlite").path
        settings.sinks.log = false
        settings.sinks.stdout = false
        let host = ScriptedHost(labSnapshot())
        let udev = ScriptedUdev()
        let daemon = try await MonitorDaemon.assemble(
            settings: settings, store: MonitorConfigStore(path: nil, config: settings), site: labSite(), reloadSite: { labSite() },
            managementPort: 443,
            boundaries: MonitorBoundaries(
                snapshots: host, udev: udev, prober: AnsweringProber(), notifier: SystemdNotifier(socketPath: socket.address)),
            version: "test", logger: quietLogger())
        #expect(daemon.services.count >= 9)

        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await daemon.serviceGroup(signals: false).run() }
                // readiness: after the first full scan, with what it watches
                // (other tests send this process SIGHUP: a reload's READY=1 may come too)
                var message = try await socket.receive()
                while !message.hasPrefix("READY=1\nSTATUS=watching") { message = try await socket.receive() }
                #expect(message == "READY=1\nSTATUS=watching 1 map(s) for the netapp nc site")
                #expect(host.collections.withLock { $0 } >= 1)
                // READY=1 waited for the HTTP server
                #expect(try httpGet(port: port, "/healthz").hasPrefix("HTTP/1.1 200"))
                #expect(try httpGet(port: port, "/status").contains("\"mpatha\""))

                // a path event reaches the engine through the udev service
                host.set { $0.maps[0].groups[0].paths[0].kernelState = .failed }
                udev.continuation.yield(pathEvent("PATH_FAILED"))
                try await eventually { await daemon.engine.stats.events["path-failed", default: 0] >= 1 }

                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(socket.drain().contains("STOPPING=1\nSTATUS=shutting down"))
        // the HTTP server is gone with the group
        #expect(throws: (any Error).self) { try httpGet(port: port, "/healthz") }
    }
}
