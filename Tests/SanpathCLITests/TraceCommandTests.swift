import Foundation
import Testing

/// `sanpath trace` run as a user runs it, on the trace fixtures.
@Suite struct TraceCommandTests {
    static let fixtures = SanpathBinary.repository.appendingPathComponent("Tests/SanpathTraceTests/Fixtures")

    func trace(_ arguments: [String]) throws -> SanpathBinary.Result {
        try SanpathBinary.run(["trace"] + arguments, templates: false)
    }

    @Test func aStuckVolumeNamesTheHopTheCauseAndTheNextStep() throws {
        let result = try trace(["vol-1A2B3C4D", "--logs", Self.fixtures.appendingPathComponent("unexport-failed").path])
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("PROBLEM: detach stopped at UnexportVolume (failed) — cause: unexport-volume-failed"))
        #expect(result.stdout.contains("sc/cloud-output.log:5"))
        #expect(result.stdout.contains("NEXT:\n  1. On the NC, verify that nothing is connected"))
        #expect(result.stdout.contains("live view: not available on this host ("))
    }

    @Test func anUnknownVolumeExitsOneWithAHint() throws {
        let result = try trace(["vol-DEADBEEF", "--logs", Self.fixtures.appendingPathComponent("clean").path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("no line mentions vol-DEADBEEF"))
        #expect(result.stderr.contains("--logs"))
    }

    @Test func anInstanceNeedsItsListing() throws {
        let result = try trace(["i-3C3C3C3C", "--logs", Self.fixtures.appendingPathComponent("ebs-instance").path])
        #expect(result.status == 1)
        #expect(result.all.contains("--instances"))
    }

    /// The JSON carries what the text says: per volume the verdict, the operations, each hop's status
    /// and evidence as file, line and time.
    @Test func jsonShape() throws {
        let folder = Self.fixtures.appendingPathComponent("ebs-instance")
        let result = try trace([
            "i-3C3C3C3C", "--instances", folder.appendingPathComponent("instances.txt").path, "--logs", folder.path, "--format", "json",
        ])
        #expect(result.status == 0, "\(result.all)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["id"] as? String == "i-3C3C3C3C")
        let volume = try #require((json["volumes"] as? [[String: Any]])?.first)
        #expect(volume["volume"] as? String == "vol-0F0F0F0F")
        #expect(volume["verdict"] is NSNull)
        let operations = try #require(volume["operations"] as? [[String: Any]])
        #expect(operations.compactMap { $0["kind"] as? String } == ["create", "attach", "detach"])
        let hop = try #require((operations[1]["hops"] as? [[String: Any]])?.first)
        #expect(hop["hop"] as? String == "GetVolumeToken")
        #expect(hop["status"] as? String == "seen")
        let evidence = try #require((hop["evidence"] as? [[String: Any]])?.first)
        #expect((evidence["file"] as? String)?.hasSuffix("sc/cloud-output.log") == true)
        #expect(evidence["line"] as? Int == 2)
        #expect(evidence["time"] as? String == "2014-04-18 08:00:40")
        #expect((volume["live"] as? [String: Any])?["available"] as? Bool == false)
    }
}
