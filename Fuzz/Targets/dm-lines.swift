// device-mapper multipath status and table parameters (what dmsetup status / table print after the target).
import SanpathSystem

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    _ = try? MultipathStatus(parsing: text, map: "fuzz")
    _ = try? MultipathTable(parsing: text, map: "fuzz")
    // a line with both: status before the first newline, table after
    if let newline = text.firstIndex(of: "\n") {
        _ = try? MultipathStatus(parsing: String(text[..<newline]), map: "fuzz")
        _ = try? MultipathTable(parsing: String(text[text.index(after: newline)...]), map: "fuzz")
    }
    return 0
}
