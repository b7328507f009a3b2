// The TOML subset every sanpath file uses (site.toml, monitor.toml), and the site file on top.
import SanpathCore
import SanpathSite

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    _ = try? SiteTOML.parse(text, source: "fuzz")
    _ = try? SiteFile(text: text, source: "fuzz")
    return 0
}
