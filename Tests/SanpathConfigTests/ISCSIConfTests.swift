import PropertyBased
import SanpathConfig
import SanpathCore
import Testing

@Suite struct ISCSIConfTests {
    @Test func readsSettingsTheWayOpenISCSIDoes() throws {
        let conf = ISCSIConf(
            text: "# comment\nnode.startup = manual\n  node.session.cmds_max =128  \nnode.session.queue_depth=32\n#node.session.auth.authmethod = CHAP\nnode.session.scan = auto # not a comment\n",
            source: "iscsid.conf")
        #expect(conf.syntaxDiagnostics.isEmpty)
        #expect(conf.effective("node.startup")?.value == "manual")
        #expect(conf.effective("node.session.cmds_max")?.value == "128")
        // no space before '=': open-iscsi skips the line
        #expect(conf.effective("node.session.queue_depth") == nil)
        #expect(conf.commentedSettings.map(\.key) == ["node.session.auth.authmethod"])
        // no inline comments
        #expect(conf.effective("node.session.scan")?.value == "auto # not a comment")
        let findings = conf.findings()
        #expect(findings.contains { $0.diagnostic.message == "ignored by open-iscsi: no space before '='" && $0.diagnostic.location.line == 4 })
        #expect(findings.contains { $0.diagnostic.message.contains("no inline comments") })
    }

    /// iscsiadm's `# BEGIN RECORD <version>` marker is not part of a setting's reason.
    @Test(arguments: [
        ("# BEGIN RECORD 2.1.8\n# why\n", "why"),
        ("# BEGIN RECORD\n# why\n", "why"),
        ("# BEGIN RECORD 2.1.8\n", ""),
        ("# BEGIN RECORD x why\n", "x why"),
        ("# a BEGIN RECORD 2.1.8\n", "a BEGIN RECORD 2.1.8"),
    ])
    func explanationLeavesOutTheRecordMarker(_ comments: String, _ reason: String) throws {
        let conf = ISCSIConf(text: comments + "node.startup = manual\n", source: "record")
        let setting = try #require(conf.effective("node.startup"))
        #expect(conf.explanation(of: setting) == reason)
    }

    @Test func aLineWithoutEqualsIsAnError() throws {
        let conf = ISCSIConf(text: "node.startup = manual\nnode.session.cmds_max 128\n", source: "/etc/iscsi/iscsid.conf")
        let error = try #require(conf.syntaxDiagnostics.first)
        #expect(error.location == SourceLocation(source: "/etc/iscsi/iscsid.conf", line: 2, column: 1))
    }

    @Test func secretsAreMaskedInEveryShownLine() {
        #expect(ISCSIConf.redactedLine("node.session.auth.password = hunter2hunter2") == "node.session.auth.password = ********")
        #expect(ISCSIConf.redactedLine("node.session.auth.password_in=abc") == "node.session.auth.password_in=********")
        #expect(ISCSIConf.redactedLine("node.session.auth.username = bob") == "node.session.auth.username = bob")
        let conf = ISCSIConf(text: "node.session.auth.password oops\n", source: "f")
        #expect(conf.syntaxDiagnostics.first?.text?.contains("oops") == true)  // no '=': nothing to mask by key
        let masked = ISCSIConf(text: "node.session.auth.password=topsecret1\n", source: "f").findings()
        #expect(masked.allSatisfy { !($0.diagnostic.text ?? "").contains("topsecret1") })
        #expect(masked.flatMap(\.changes).allSatisfy { $0.new == Secrets.mask })
    }

    @Test func roundTripsAnyLines() async {
        let fixed = Gen<String?>.element(of: ["node.startup = manual", "a=b", "# x = y", "", "  k =  v  ", "\t#c"]).map { $0 ?? "" }
        let generated = Gen.letterOrNumber.string(of: 1...8).map { "\($0) = \($0)" }
        let line = zip(Gen.bool, fixed, generated).map { t in t.0 ? t.1 : t.2 }
        let ending = Gen<String?>.element(of: ["\n", "\r\n", ""]).map { $0 ?? "" }
        await propertyCheck(count: 300, input: zip(line, ending).map { t in t.0 + t.1 }.array(of: 0...12)) { parts in
            let text = parts.joined()
            #expect(ISCSIConf(text: text, source: "f").text == text)
        }
    }
}

@Suite struct UnifiedDiffTests {
    @Test func rendersLikeDiffU() {
        let old = TextLines(splitting: "a\nb\nc\nd\ne\nf\ng\nh\n").lines
        let new = TextLines(splitting: "a\nb\nc\nD\ne\nf\ng\nh\ni\n").lines
        let text = UnifiedDiff(old: old, new: new).render(oldLabel: "x", newLabel: "y")
        #expect(text == "--- x\n+++ y\n@@ -1,8 +1,9 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n h\n+i\n")
    }

    @Test func emptyOldSideStartsAtZero() {
        let text = UnifiedDiff(old: [], new: TextLines(splitting: "a\n").lines).render(oldLabel: "/dev/null", newLabel: "f")
        #expect(text.contains("@@ -0,0 +1 @@\n+a\n"))
    }

    @Test func marksAMissingFinalNewline() {
        let text = UnifiedDiff(old: TextLines(splitting: "a").lines, new: TextLines(splitting: "a\n").lines)
            .render(oldLabel: "x", newLabel: "y")
        #expect(text.contains("-a\n\\ No newline at end of file\n+a\n"))
    }

    @Test func noHunksWhenEqual() {
        #expect(UnifiedDiff(old: TextLines(splitting: "a\n").lines, new: TextLines(splitting: "a\n").lines).isEmpty)
    }
}
