import Foundation
import Testing

/// `sanpath status` draws the topology under the table: plain text in a pipe, coloured on request.
@Suite struct StatusTopologyCommandTests {
    @Test func degradedLabCaptureAsAWhiteboardDrawing() throws {
        let result = try SanpathBinary.run(
            ["status", "--root", StatusCommandTests.fixtures.appendingPathComponent("degraded").path] + StatusCommandTests.site
                + ["--sanhost", "10.0.0.9"])
        #expect(result.status == 0, "\(result.all)")
        #expect(!result.stdout.contains("\u{1B}["))
        let drawing = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).drop { !$0.hasPrefix("TOPOLOGY") }
        #expect(
            Array(drawing.prefix(6)) == [
                "TOPOLOGY  map → path group → path → iface/NIC → portal → SAN host",
                "mpatha 36001405ab5ea20000000100000000000  1/2 paths",
                "├─ group 1 active",
                "│  └─ sdd active ── iface1/ini1 up ── 198.51.100.2:3260 LOGGED_IN ── SAN 10.0.0.9 not probed",
                "└─ group 2 enabled",
                "   └─ sdb failed ── iface0/ini0 up ── 192.0.2.2:3260 FREE ── SAN 10.0.0.9 not probed",
            ])
        #expect(drawing.filter { $0.contains("── SAN 10.0.0.9") }.count == 6)
    }

    @Test func colourWhenAsked() throws {
        let result = try SanpathBinary.run(
            ["status", "--root", StatusCommandTests.fixtures.appendingPathComponent("degraded").path, "--color", "always"]
                + StatusCommandTests.site)
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("\u{1B}[31msdb failed\u{1B}[0m"))
        #expect(result.stdout.contains("\u{1B}[32msdd active\u{1B}[0m"))
    }
}
