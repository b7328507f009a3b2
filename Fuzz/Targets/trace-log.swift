// Eucalyptus log lines (both layouts) and the chunked line scanner trace reads them with: the
// input is cut into two chunks where its first byte says, so that lines span chunk edges.
import SanpathTrace

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: count)
    var scanner = LineScanner(needles: ["vol-", "sc-", "i-"], afterContext: 3)
    let cut = count == 0 ? 0 : Int(buffer[0]) % (count + 1)
    var kept = 0
    let keep: (ScannedLine) -> String? = { line in
        kept += 1
        _ = LogLineParser.parse(line.text)
        return line.matched && line.text.contains("thread") ? "thread" : nil
    }
    scanner.feed(UnsafeRawBufferPointer(rebasing: buffer[..<cut]), keep: keep)
    scanner.feed(UnsafeRawBufferPointer(rebasing: buffer[cut...]), keep: keep)
    scanner.finish(keep: keep)
    buffer.withMemoryRebound(to: UInt8.self) { _ = LogLineParser.parse($0) }
    for line in String(decoding: buffer, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).prefix(64) {
        _ = LogLineParser.parse(String(line))
    }
    return 0
}
