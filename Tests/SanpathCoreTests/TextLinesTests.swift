import PropertyBased
import SanpathCore
import Testing

@Suite struct TextLinesTests {
    @Test(arguments: [
        "", "\n", "a", "a\n", "a\r\n", "a\r\nb", "a\nb\r\n", "\r", "a\rb\n", "\n\n\n", "x\r\r\n",
    ])
    func splitThenJoinIsIdentity(_ text: String) {
        #expect(TextLines(splitting: text).joined == text)
    }

    @Test func keepsEachLineEnding() {
        let lines = TextLines(splitting: "a\r\nb\nc").lines
        #expect(lines.map(\.ending) == [.crlf, .lf, .none])
        #expect(lines.map(\.text) == ["a", "b", "c"])
    }

    @Test func dominantEndingFollowsTheFile() {
        #expect(TextLines(splitting: "a\r\nb\r\nc\n").dominantEnding == .crlf)
        #expect(TextLines(splitting: "").dominantEnding == .lf)
    }

    @Test func refusesBytesThatAreNotUTF8() {
        #expect(throws: SanpathError.self) {
            _ = try TextLines(bytes: Array("ok\n".utf8) + [0xFF, 0x0A], source: "f")
        }
    }

    @Test func roundTripsAnyText() async {
        let fixed = Gen<String?>.element(of: ["\n", "\r\n", "\r", " ", "#"]).map { $0 ?? "" }
        let pieces = zip(Gen.bool, fixed, Gen.letterOrNumber.string(of: 0...5)).map { t in t.0 ? t.1 : t.2 }
        await propertyCheck(input: pieces.array(of: 0...30)) { parts in
            let text = parts.joined()
            #expect(TextLines(splitting: text).joined == text)
        }
    }
}

@Suite struct RedactorTests {
    @Test func masksEveryRegisteredSecret() {
        let redactor = Redactor()
        redactor.register("s3cret-chap-pw")
        let out = redactor.redact("node.session.auth.password = s3cret-chap-pw and again s3cret-chap-pw")
        #expect(!out.contains("s3cret-chap-pw"))
        #expect(out.contains(Secrets.mask))
    }

    @Test(arguments: [
        ("node.session.auth.password", true), ("node.session.auth.password_in", true),
        ("discovery.sendtargets.auth.password", true), ("node.session.auth.username", false),
        ("node.startup", false),
    ])
    func knowsSecretKeys(_ key: String, _ secret: Bool) {
        #expect(Secrets.isSecretKey(key) == secret)
    }
}
