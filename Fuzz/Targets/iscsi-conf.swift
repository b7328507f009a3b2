// iscsid.conf, node records and iface files (open-iscsi's name = value grammar).
import SanpathConfig
import SanpathCore
import SanpathSystem

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    let text = String(decoding: bytes, as: UTF8.self)
    let conf = ISCSIConf(text: text, source: "fuzz")
    precondition(conf.lines.joined == text, "iscsid.conf lines are not lossless")
    _ = conf.settings.map { ISCSIConf.redactedLine($0.key + " = " + $0.value) }
    _ = IfaceFilesReader.iface(named: "iface0", text: text, source: "fuzz")
    if let lines = try? TextLines(bytes: bytes, source: "fuzz") { _ = ISCSIConf(lines: lines, source: "fuzz") }
    return 0
}
