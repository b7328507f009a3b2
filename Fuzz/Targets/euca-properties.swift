// euca-describe-properties --verbose output, and the site layer taken from it.
import SanpathCore
import SanpathSite

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    let properties = EucalyptusProperties.parse(text, source: "fuzz")
    _ = try? EucalyptusProperties.layer(text, source: "fuzz", partition: nil)
    if let first = properties.first {
        _ = try? EucalyptusProperties.layer(text, source: "fuzz", partition: Located(first.partition, at: first.location))
    }
    return 0
}
