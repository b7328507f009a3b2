import Foundation
import SanpathCore
import SanpathTrace
import SanpathTraceLogs
import Testing

/// Parsing both layouts of both logs, and reading real files: rotations, gzip, chunk edges.
@Suite struct LogLineTests {
    @Test(arguments: [
        ("2014-04-18 01:12:07  INFO | Processing UnexportVolume request for volume vol-1A2B3C4D", "INFO", nil as String?, nil as String?),
        ("2014-04-19 10:00:06 DEBUG 000000221 TGTWrapper               | TGTWrapper executed: x", "DEBUG", "000000221", "TGTWrapper"),
        ("2014-04-19 10:00:06 EXTREME 000000221 TGTWrapper               TGTWrapper.java                   | m", "EXTREME", "000000221", "TGTWrapper"),
        ("2013-06-13 11:27:08 DEBUG 000012427 doAttachVolume           | [i-126041BC][vol-DABC42FE] volume attaching (localDev=/dev/vde)", "DEBUG", "000012427", "doAttachVolume"),
        ("2013-06-13 11:27:17 DEBUG 000012427 scClientCall             | \tdone scOps=ExportVolume clientrc=0 opFail=0", "DEBUG", "000012427", "scClientCall"),
        ("2014-04-21 13:40:02  INFO | [i-2B2B2B2B][vol-0F0F0F0F] volume attached as host device 'x' to guest device 'vdb'", "INFO", nil, nil),
    ])
    func bothLayouts(_ line: String, _ level: String, _ thread: String?, _ origin: String?) throws {
        let parsed = try #require(LogLineParser.parse(line))
        #expect(parsed.level == level)
        #expect(parsed.thread == thread)
        #expect(parsed.origin == origin)
    }

    @Test(arguments: [
        "java.lang.Exception: Got null record result. Cannot set connection string",
        "\tat com.eucalyptus.blockstorage.BlockStorageController.ExportVolume(BlockStorageController.java:525)",
        "\t... 41 more", "                                                             |  return=22", "",
        "[Thu Apr 18 01:12:07 2013][001234][EUCAINFO  ] pre-3.2 shape", "2014-04-18 01:12:07 no bar here at all",
    ])
    func otherShapesAreSkipped(_ line: String) {
        #expect(LogLineParser.parse(line) == nil)
    }

    @Test func rotatedNamesAndTheirOrder() {
        let names = ["nc.log", "nc.log.0", "nc.log.1", "nc.log.2.gz", "cloud-output.log.10", "cloud-output.log.3.gz"]
        let files = names.compactMap { LogFile(path: "h/\($0)", host: "h") }
        #expect(files.count == names.count)
        #expect(LogFile(path: "h/nc.log.bak", host: "h") == nil)
        #expect(LogFile(path: "h/httpd-nc_error_log", host: "h") == nil)
        let ordered = files.filter { $0.kind == .nc }.sorted(by: LogFile.readingOrder).map { $0.path }
        #expect(ordered == ["h/nc.log.2.gz", "h/nc.log.1", "h/nc.log.0", "h/nc.log"])
    }
}

@Suite struct LogFileReadingTests {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-trace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("nc"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sc"), withIntermediateDirectories: true)
    }

    func write(_ relative: String, _ lines: [String]) throws {
        try (lines.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent(relative), atomically: true, encoding: .utf8)
    }

    func gzip(_ relative: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-f", folder.appendingPathComponent(relative).path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    /// Attach in the oldest, gzipped rotation, detach in `.1`, delete in the live file; the SC's on
    /// another host: the trace puts them in time order and finds the whole flow.
    @Test func rotatedAndGzippedLogsAreReadInTimeOrderAcrossHosts() throws {
        let v = "vol-1A2B3C4D"
        try write("nc/nc.log.2", [
            "2014-04-18 01:10:01 DEBUG 000012427 doAttachVolume           | [i-2B2B2B2B][\(v)] volume attaching (localDev=/dev/vdb)",
            "2014-04-18 01:10:02 DEBUG 000012427 scClientCall             | \tdone scOps=ExportVolume clientrc=0 opFail=0",
            "2014-04-18 01:10:02  INFO 000012427 doAttachVolume           | [i-2B2B2B2B][\(v)] volume attached as host device '/dev/sdc' to guest device 'vdb'",
        ])
        try gzip("nc/nc.log.2")
        try write("nc/nc.log.1", [
            "2014-04-18 01:12:06 DEBUG 000012480 doDetachVolume           | [i-2B2B2B2B][\(v)] volume detaching (localDev=/dev/vdb force=0 grab_inst_sem=1)",
            "2014-04-18 01:12:07  INFO 000012480 doDetachVolume           | [i-2B2B2B2B][\(v)] detached as host device '/dev/sdc' and guest device 'vdb'",
        ])
        try write("nc/nc.log", ["2014-04-18 02:00:00 DEBUG 000012001 doDescribeResource       | returning status=enabled"])
        try write("sc/cloud-output.log.1", [
            "2014-04-18 01:10:00  INFO | Processing GetVolumeToken request for volume \(v)",
            "2014-04-18 01:10:02  INFO | Processing ExportVolume request for volume \(v)",
        ])
        try gzip("sc/cloud-output.log.1")
        try write("sc/cloud-output.log", [
            "2014-04-18 01:12:07  INFO | Processing UnexportVolume request for volume \(v) from node 10.0.0.14 with iqn iqn.x:y",
            "2014-04-18 01:20:00  INFO | Processing DeleteStorageVolume request for volume \(v)",
            "2014-04-18 01:20:41  INFO | Volume: \(v) marked for deletion. Checking export status",
            "2014-04-18 01:20:41  INFO | Volume: \(v) was marked for deletion. Cleaning up...",
        ])
        let traces = try Tracer(source: LocalLogSource()).trace(.volume(v), logs: [folder.path])
        let trace = try #require(traces.first)
        #expect(trace.operations.map(\.kind) == [.attach, .detach, .delete])
        #expect(trace.verdict == nil, "\(String(describing: trace.verdict))")
        let evidence = trace.operations.flatMap { $0.hops.flatMap(\.evidence) }
        #expect(evidence.map(\.time) == evidence.map(\.time).sorted())
        #expect(evidence.contains { $0.position.file.hasSuffix("nc.log.2.gz") && $0.position.line == 3 })
        #expect(evidence.contains { $0.position.file.hasSuffix("cloud-output.log.1.gz") && $0.position.line == 2 })
        #expect(Set(evidence.map(\.host)) == ["nc", "sc"])
    }

    /// Lines cut across read(2) chunks and gzip windows still match and keep their numbers.
    @Test(arguments: [7, 64, 4096])
    func chunkEdges(_ chunkSize: Int) throws {
        var lines: [String] = []
        for n in 0..<3000 {
            lines.append(n % 997 == 5
                ? "2014-04-18 01:10:00  INFO | Processing GetVolumeToken request for volume vol-1A2B3C4D"
                : "2014-04-18 01:09:59  INFO | Processing GetVolumeToken request for volume vol-77AA\(n)")
        }
        try write("sc/cloud-output.log", lines)
        try write("sc/cloud-output.log.1", lines)
        try gzip("sc/cloud-output.log.1")
        var source = LocalLogSource()
        source.chunkSize = chunkSize
        let files = try source.files(at: [folder.path])
        let reading = try Tracer(source: source).read(files, ids: ["vol-1A2B3C4D"])
        let numbers = (reading.records["vol-1A2B3C4D"] ?? []).map(\.position.line)
        #expect(numbers == [6, 1003, 2000, 2997, 6, 1003, 2000, 2997])
    }

    @Test func aLogFileNamedAloneBringsItsRotations() throws {
        try write("nc/nc.log", ["x"])
        try write("nc/nc.log.0", ["x"])
        try write("nc/nc.log.1", ["x"])
        try gzip("nc/nc.log.1")
        let files = try LocalLogSource().files(at: [folder.appendingPathComponent("nc/nc.log").path])
        #expect(files.map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["nc.log.1.gz", "nc.log.0", "nc.log"])
        #expect(files.allSatisfy { $0.host == "nc" })
    }
}

@Suite struct InstancesListingTests {
    @Test func blockDevicesBelongToTheInstanceAbove() throws {
        let text = """
            RESERVATION\tr-1\t1234\tdefault
            INSTANCE\ti-1\temi-1\t\t\trunning
            BLOCKDEVICE\t/dev/vdb\tvol-AAAA0001\t2014-04-18T01:10:00.000Z\tfalse\t\t
            INSTANCE\ti-2\temi-1\t\t\trunning\t\t\t\t\t\t\t\t\t\t\t\t\t\t\tebs
            BLOCKDEVICE\t/dev/sda\tvol-BBBB0001\t2014-04-18T01:10:00.000Z\ttrue\t\t
            BLOCKDEVICE\t/dev/vdc\tvol-BBBB0002\t2014-04-18T01:11:00.000Z\tfalse\t\t
            """
        let listing = InstancesListing(text: text)
        #expect(try TraceSubject.parse("i-2", instances: listing).volumes == ["vol-BBBB0001", "vol-BBBB0002"])
        #expect(listing.instance("i-2")?.rootDeviceType == "ebs")
        #expect(throws: SanpathError.self) { try TraceSubject.parse("i-3", instances: listing) }
        #expect(throws: SanpathError.self) { try TraceSubject.parse("i-2", instances: nil) }
    }
}
