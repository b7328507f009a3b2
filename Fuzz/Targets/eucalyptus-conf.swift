// eucalyptus.conf's STORAGE_INTERFACES, and the value grammars of the site (paths, SAN hosts, interfaces).
import SanpathCore
import SanpathSite

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    _ = try? EucalyptusConf.layer(text, source: "fuzz")
    let here = SourceLocation(source: "fuzz")
    _ = try? SiteValues.parsePaths(text, what: "paths", at: here)
    _ = try? SiteValues.parseSANHosts(text, what: "sanhost", at: here)
    _ = try? SiteValues.parseInterfaces(text, what: "interfaces", at: here)
    return 0
}
