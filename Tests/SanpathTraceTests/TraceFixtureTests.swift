import Foundation
import SanpathCore
import SanpathTrace
import SanpathTraceLogs
import Testing

/// The fixtures: one Eucalyptus deployment's logs per case (README.md beside them names the source
/// of every statement).
enum Fixtures {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    static func trace(_ name: String, _ id: String = "vol-1A2B3C4D", instances: String? = nil) throws -> [VolumeTrace] {
        let listing = try instances.map { InstancesListing(text: try String(contentsOfFile: path(name) + "/" + $0, encoding: .utf8)) }
        let subject = try TraceSubject.parse(id, instances: listing)
        return try Tracer(source: LocalLogSource()).trace(subject, logs: [path(name)])
    }
}

@Suite struct KnownCauseTests {
    /// Each known cause: the hop where the flow stopped, the cause, and the first words of the next step.
    @Test(arguments: [
        ("token-missing", OperationKind.attach, Hop.getVolumeToken, HopStatus.missing, Cause.tokenMissing, "VolumeManager"),
        ("export-missing", .attach, .exportVolume, .missing, .exportMissing, "volume attaching"),
        ("export-failed", .attach, .exportVolume, .failed, .exportFailed, "Read the SC's error"),
        ("unexport-missing", .detach, .unexportVolume, .missing, .unexportMissing, "doDetachVolume record"),
        ("unexport-failed", .detach, .unexportVolume, .failed, .unexportFailed, "verify that nothing is connected"),
        ("delete-exported", .delete, .cleanup, .failed, .deleteBlockedByExport, "Find the detach"),
    ])
    func cause(_ fixture: String, _ operation: OperationKind, _ hop: Hop, _ status: HopStatus, _ cause: Cause, _ next: String) throws {
        let traces = try Fixtures.trace(fixture)
        let verdict = try #require(traces.first?.verdict, "\(fixture): no problem found")
        #expect(verdict.operation == operation)
        #expect(verdict.hop == hop)
        #expect(verdict.status == status)
        #expect(verdict.cause == cause)
        #expect(verdict.next.first?.contains(next) == true, "\(verdict.next)")
    }

    @Test func exportMissingNamesTheURLTheNCUsed() throws {
        let verdict = try #require(try Fixtures.trace("export-missing").first?.verdict)
        #expect(verdict.summary.contains("http://10.0.0.99:8773/services/Storage"))
        #expect(verdict.evidence.contains { $0.position.file.hasSuffix("nc/nc.log") && $0.position.line == 9 })
    }

    @Test func exportFailedShowsTheSCErrorAndTheNCsOpFail() throws {
        let trace = try #require(try Fixtures.trace("export-failed").first)
        let attach = try #require(trace.operations.first { $0.kind == .attach })
        let export = try #require(attach.hops.first { $0.hop == .exportVolume })
        #expect(export.evidence.contains { $0.text.hasPrefix("Could not attach volume: Failed to attach volume vol-1A2B3C4D") })
        #expect(export.evidence.contains { $0.text.contains("opFail=1") } || attach.hops.contains { $0.evidence.contains { $0.text.contains("opFail=1") } })
        #expect(trace.target == "iqn.2009-06.com.eucalyptus.PARTI00:store7")
        #expect(trace.lun == 1)
    }

    @Test func unexportFailedSaysTheDeleteIsStuck() throws {
        let trace = try #require(try Fixtures.trace("unexport-failed").first)
        let verdict = try #require(trace.verdict)
        #expect(verdict.summary.contains("stuck in 'deleting'"))
        let delete = try #require(trace.operations.first { $0.kind == .delete })
        #expect(delete.problem?.cause == .deleteBlockedByExport)
        #expect(trace.notes.contains { $0.contains("3.3.0") })
    }

    @Test func deleteOfAnExportedVolumeIn331RetriesThenFails() throws {
        let trace = try #require(try Fixtures.trace("delete-exported").first)
        #expect(trace.notes.contains { $0.contains("3.3.1+") })
        let cleanup = try #require(trace.operations.last?.hops.first { $0.hop == .cleanup })
        #expect(cleanup.status == .failed)
        #expect(cleanup.evidence.last?.text.contains("Unable to delete volume") == true)
    }
}

@Suite struct CleanFlowTests {
    @Test func aCleanCreateAttachDetachDeleteReportsNoProblem() throws {
        let trace = try #require(try Fixtures.trace("clean").first)
        #expect(trace.verdict == nil)
        #expect(trace.operations.map(\.kind) == [.create, .attach, .detach, .delete])
        #expect(trace.operations.allSatisfy { $0.problem == nil })
        let attach = trace.operations[1]
        #expect(attach.hops.map(\.status) == [.seen, .seen, .seen, .seen])
        // evidence is file:line + time
        let token = try #require(attach.hops.first?.evidence.first)
        #expect(token.position.file.hasSuffix("clean/sc/cloud-output.log"))
        #expect(token.position.line == 11)
        #expect(token.time.description == "2014-04-18 01:10:00")
    }

    @Test func anEBSBackedInstanceRunAndStopThroughTheInstancesListing() throws {
        let traces = try Fixtures.trace("ebs-instance", "i-3C3C3C3C", instances: "instances.txt")
        let trace = try #require(traces.first)
        #expect(trace.volume == "vol-0F0F0F0F")
        #expect(trace.instance == "i-3C3C3C3C")
        #expect(trace.verdict == nil, "\(String(describing: trace.verdict))")
        #expect(trace.operations.map(\.kind) == [.create, .attach, .detach])
        let device = try #require(trace.operations[1].hops.first { $0.hop == .localDevice })
        #expect(device.status == .seen)
        #expect(device.evidence.first?.text == "[i-3C3C3C3C] booting")
    }

    @Test func anHAPairNamesTheSCThatAnswered() throws {
        let trace = try #require(try Fixtures.trace("ha-pair").first)
        #expect(trace.verdict == nil)
        #expect(trace.operations.map(\.kind) == [.create, .attach])
        #expect(trace.operations[1].hops.first?.evidence.first?.host == "sc2")
        #expect(trace.notes.contains { $0.contains("sc2") && $0.contains("ENABLED") })
    }

    @Test func noiseIsNotEvidence() throws {
        // other volumes, other threads' scClientCall lines, DEBUG chatter and stack traces
        let trace = try #require(try Fixtures.trace("clean").first)
        let texts = trace.operations.flatMap { $0.hops.flatMap { $0.evidence.map(\.text) } }
        #expect(!texts.contains { $0.contains("vol-77AA0002") || $0.contains("vol-77AA0001") })
        #expect(trace.lineCount < 20)
    }

    @Test func anUnknownVolumeSaysSoWithAHint() throws {
        #expect {
            _ = try Fixtures.trace("clean", "vol-DEADBEEF")
        } throws: { error in
            let error = error as? SanpathError
            return error?.code == .unknownID && error?.message.contains("--logs") == true
        }
    }
}
