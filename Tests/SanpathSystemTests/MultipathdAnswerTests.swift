import Foundation
import Logging
import SanpathCore
import SanpathHealth
import Testing

@testable import SanpathSystem

/// Down is only what the socket says: nothing listening. A multipathd that takes the command and
/// does not answer in time is busy (a reconfigure holds it for seconds): unknown, never down.
@Suite struct MultipathdAnswerTests {
    /// Takes every command and never answers in time, as `MultipathdSocket` reports it.
    struct SilentMultipathd: MultipathdClient {
        func command(_ command: String) async throws -> String {
            throw SanpathError(
                .multipathd, "multipathd did not answer '\(command)'", underlying: MultipathdSocket.Errno(call: "poll", code: ETIMEDOUT))
        }
    }

    func running(_ client: any MultipathdClient) async throws -> Bool? {
        try await SnapshotCollectorTests.collector(try SnapshotCollectorTests.demoDM(), multipathd: client).collect().multipathdRunning
    }

    @Test func aTimeoutIsUnknownNotDown() async throws {
        #expect(try await running(SilentMultipathd()) == nil)
    }

    /// The real socket client on an abstract name nobody listens on: refused, so down.
    @Test func nothingListeningIsDown() async throws {
        let socket = MultipathdSocket(addresses: [.abstract("/org/sanpath/test/no-multipathd-\(getpid())")], timeout: 1)
        #expect(try await running(socket) == false)
    }
}
