import SanpathCore
import Testing

@Suite struct SiteTOMLTests {
    /// scripts/fuzz's find (Fuzz/Corpus/toml/nested-arrays): arrays nested ~2,000 deep overflowed
    /// the stack; now any depth past 32 is an error with its place, and 32 still parses.
    @Test func deeplyNestedArraysAreAnErrorNotACrash() throws {
        let deep = "paths = " + String(repeating: "[", count: 100_000) + "\n"
        #expect {
            _ = try SiteTOML.parse(deep, source: "site.toml")
        } throws: { error in
            (error as? SanpathError)?.message.contains("arrays nested deeper than 32 levels") == true
        }
        let ok = "paths = " + String(repeating: "[", count: 32) + String(repeating: "]", count: 32) + "\n"
        #expect(throws: Never.self) { _ = try SiteTOML.parse(ok, source: "site.toml") }
    }

    @Test func parsesTheSiteFileShape() throws {
        let text = """
            # site
            vendor = "equallogic"   # comment
            role = 'nc'
            paths = [
              "iface0:10.0.0.1",  # first
              "iface1:10.0.1.1",
            ]
            count = 1_000
            enabled = true

            [interfaces]
            iface0 = "br0"
            """
        let table = try SiteTOML.parse(text, source: "site.toml")
        guard case .string("equallogic", let location)? = table["vendor"] else {
            Issue.record("vendor missing")
            return
        }
        #expect(location == SourceLocation(source: "site.toml", line: 2, column: 10))
        guard case .array(let items, _)? = table["paths"] else {
            Issue.record("paths missing")
            return
        }
        #expect(items.count == 2)
        #expect(items[1].location.line == 6)
        #expect(table["count"] == .integer(1000, SourceLocation(source: "site.toml", line: 8, column: 9)))
        guard case .table(let interfaces)? = table["interfaces"], case .string("br0", _)? = interfaces["iface0"] else {
            Issue.record("interfaces missing")
            return
        }
    }

    @Test(arguments: [
        ("vendor = equallogic", 1, 10, "must be quoted"),
        ("a = \"x\"\na = \"y\"", 2, 1, "set twice"),
        ("a = \"unterminated", 1, 5, "unterminated"),
        ("a = 1.5", 1, 5, "floating-point"),
        ("[t]\n[t]", 2, 1, "defined twice"),
        ("a = \"x\" b", 1, 9, "unexpected text"),
        ("a = { b = 1 }", 1, 5, "inline tables"),
    ])
    func rejectsWithLineAndColumn(_ text: String, _ line: Int, _ column: Int, _ words: String) {
        do {
            _ = try SiteTOML.parse(text, source: "s.toml")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.location?.line == line)
            #expect(error.location?.column == column)
            #expect(error.message.contains(words), "\(error.message)")
        }
    }
}
