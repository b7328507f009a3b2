import CSanpathShims

#if os(Linux)
import Glibc
#endif

/// Half-open probes of a fixed set of IPv4 portals, each through its path's NIC, on a thread of
/// their own. A round is one SYN to every portal and one poll over all the answers; a portal that
/// failed is probed again at once (two failures in a row mark it unreachable). The loop reports
/// only what can change the daemon's view: every failure, and a portal's first answer of all or
/// after a failure. While every portal answers, a round costs the process a wake-up for the
/// timer and one for the answers, and nothing in the async runtime or the engine: the probes run
/// every second, and an idle daemon should cost a small fraction of multipathd.
public final class SynProbeLoop: ProbeThreadLoop {
    /// A portal and the NIC its path leaves by.
    public struct Endpoint: Sendable, Hashable {
        /// An IPv4 address (no name: a name would need the resolver every round).
        public var host: String
        /// TCP port.
        public var port: Int
        /// NIC (SO_BINDTODEVICE), nil for the routing table's choice.
        public var device: String?

        /// Creates an endpoint.
        public init(host: String, port: Int, device: String?) {
            self.host = host
            self.port = port
            self.device = device
        }
    }

    /// One probe result the daemon must see.
    public typealias Report = ProbeLoopReport

    private struct Destination: @unchecked Sendable {
        var address: sockaddr_in
    }

    private let destinations: [Destination]
    private let devices: [String?]
    private let clock: ProbeLoopClock

    /// The most portals one round polls at once (the C side's limit).
    public static let maximumEndpoints = 64

    /// A loop for `endpoints`, or nil when it cannot run here: a host that is not an IPv4
    /// literal, more than `maximumEndpoints`, none, or no raw sockets (no CAP_NET_RAW; the
    /// caller then probes with connects).
    public init?(endpoints: [Endpoint]) {
        guard !endpoints.isEmpty, endpoints.count <= Self.maximumEndpoints else { return nil }
        var destinations: [Destination] = []
        for endpoint in endpoints {
            guard let address = SynProbers.ipv4(literal: endpoint.host, port: endpoint.port) else { return nil }
            destinations.append(Destination(address: address))
        }
        let raw = socket(AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_TCP))
        guard raw >= 0 else { return nil }
        close(raw)
        guard let clock = ProbeLoopClock() else { return nil }
        self.destinations = destinations
        self.devices = endpoints.map(\.device)
        self.clock = clock
    }

    /// Ends `run` within a moment (it may be waiting for a round's answers, at most the timeout).
    public func stop() { clock.stop() }

    /// Probes every `interval()` seconds, each round waiting up to `timeout()` seconds for the
    /// answers (both read each round: a reload takes effect), and hands `report` what the daemon
    /// must see, in order, until `stop()`. Blocks: run it on a thread of its own.
    public func run(interval: () -> Double, timeout: () -> Double, report: ([Report]) -> Void) {
        // the kernel's name for the thread (top -H, /proc/PID/task/TID/comm): Foundation's
        // `Thread.name` does not reach it on Linux
        _ = sanpath_name_this_thread("sanpath-probes")
        var probers = [OpaquePointer?](repeating: nil, count: destinations.count)
        defer { probers.forEach { $0.map(sanpath_syn_close) } }
        // whether the last report of each endpoint said it answered (nil: none yet)
        var lastAnswered = [Bool?](repeating: nil, count: destinations.count)
        while !clock.isStopped {
            let limit = timeout()
            var reports: [Report] = []
            var failed: [Int] = []
            for result in round(Array(destinations.indices), timeout: limit, probers: &probers) {
                if result.latency == nil {
                    failed.append(result.index)
                    reports.append(result)
                } else if lastAnswered[result.index] != true {
                    reports.append(result)
                }
                lastAnswered[result.index] = result.latency != nil
            }
            if !failed.isEmpty, !clock.isStopped {
                for result in round(failed, timeout: limit, probers: &probers) {
                    reports.append(result)
                    lastAnswered[result.index] = result.latency != nil
                }
            }
            if !reports.isEmpty { report(reports) }
            clock.wait(seconds: interval())
        }
    }

    /// One SYN to each of `indices` at once; a prober that failed is closed, so the next probe
    /// opens it afresh (a NIC that came back, a new route).
    private func round(_ indices: [Int], timeout: Double, probers: inout [OpaquePointer?]) -> [Report] {
        var reports: [Report] = []
        var open: [Int] = []
        for index in indices {
            if probers[index] == nil {
                var step: UnsafePointer<CChar>?
                var code: Int32 = 0
                var destination = destinations[index].address
                probers[index] = sanpath_syn_open(&destination, devices[index], &step, &code)
                if probers[index] == nil {
                    reports.append(Report(index: index, latency: nil, failure: Self.describe(step: step, code: code)))
                    continue
                }
            }
            open.append(index)
        }
        guard !open.isEmpty else { return reports }
        let handles: [OpaquePointer?] = open.map { probers[$0] }
        var results = [Int32](repeating: 0, count: open.count)
        var elapsed = [Int64](repeating: 0, count: open.count)
        var steps = [UnsafePointer<CChar>?](repeating: nil, count: open.count)
        var codes = [Int32](repeating: 0, count: open.count)
        let milliseconds = Int32(max(1, (timeout * 1000).rounded(.up)))
        handles.withUnsafeBufferPointer { handles in
            sanpath_syn_probe_all(handles.baseAddress, Int32(open.count), milliseconds, &results, &elapsed, &steps, &codes)
        }
        for (position, index) in open.enumerated() {
            if results[position] == SANPATH_SYN_OPEN {
                reports.append(Report(index: index, latency: Double(elapsed[position]) / 1e6, failure: nil))
                continue
            }
            sanpath_syn_close(probers[index])
            probers[index] = nil
            let failure: String
            switch results[position] {
            case SANPATH_SYN_REFUSED: failure = "SYN: refused (RST: nothing listens on the port)"
            case SANPATH_SYN_TIMEOUT: failure = "SYN: no answer within \(timeout) s"
            default: failure = Self.describe(step: steps[position], code: codes[position])
            }
            reports.append(Report(index: index, latency: nil, failure: failure))
        }
        return reports.sorted { $0.index < $1.index }
    }

    private static func describe(step: UnsafePointer<CChar>?, code: Int32) -> String {
        "\(step.map { String(cString: $0) } ?? "probe"): \(String(cString: strerror(code)))"
    }
}
