// multipath.conf: tokenizer and grammar (lossless), then the lint that matches regexes.
import SanpathConfig
import SanpathCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    let conf = MultipathConf(text: text, source: "fuzz")
    // the grammar promises lossless lines
    precondition(conf.text == text, "multipath.conf lines are not lossless")
    if conf.syntaxDiagnostics.isEmpty { _ = MultipathLint.findings(conf) }
    return 0
}
