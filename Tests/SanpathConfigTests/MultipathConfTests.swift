import Foundation
import PropertyBased
import SanpathConfig
import SanpathCore
import Testing

@Suite struct MultipathConfGrammarTests {
    @Test func readsSectionsSettingsAndComments() throws {
        let text = """
            # comment
            defaults {
            \tuser_friendly_names yes   # trailing comment
            \tpath_selector "round-robin 0" ! bang comment
            }
            devices {
            \tdevice {
            \t\tvendor "EQLOGIC"
            \t\tproduct "100E-00"
            \t\tprio_args "a""b"
            \t}
            }
            blacklist_exceptions {
            \tproperty ""
            }

            """
        let conf = MultipathConf(text: text, source: "m.conf")
        #expect(conf.syntaxDiagnostics.isEmpty)
        let defaults = try #require(conf.sections(named: "defaults").first)
        #expect(defaults.value(of: "user_friendly_names") == "yes")
        #expect(defaults.value(of: "path_selector") == "round-robin 0")
        let device = try #require(conf.sections(named: "devices").first?.subsections.first)
        #expect(device.value(of: "prio_args") == "a\"b")
        #expect(conf.sections(named: "blacklist_exceptions").first?.value(of: "property") == "")
        #expect(conf.text == text)
    }

    /// What multipath-tools itself rejects, with the line and column sanpath reports.
    @Test(arguments: [
        ("devices {\n\tdevice\n\t{\n\t\tvendor \"X\"\n\t}\n}\n", 3, 2, "same line"),
        ("defaults {\n}\n}\n", 3, 1, "unmatched '}'"),
        ("defaults {\n\tpolling_interval 5\n", 1, 1, "never closed"),
        ("blacklist {\n\tdevnode \"^sd[a-z\n}\n", 2, 10, "missing closing '\"'"),
        ("defaults {\n\tpath_selector round-robin 0\n}\n", 2, 28, "quote a value with spaces"),
        ("defaults {\n\tpolling_interval\n}\n", 2, 2, "missing value"),
        ("foo {\n}\n", 1, 1, "unknown section 'foo'"),
        ("defaults { polling_interval 5 }\n", 1, 12, "unexpected text after '{'"),
        ("devices {\n\tmultipath {\n\t}\n}\n", 2, 2, "unknown section 'multipath' in the devices section"),
    ] as [(String, Int, Int, String)])
    func reportsStructuralErrors(_ text: String, _ line: Int, _ column: Int, _ words: String) throws {
        let conf = MultipathConf(text: text, source: "/etc/multipath.conf")
        let first = try #require(conf.syntaxDiagnostics.first, "accepted: \(text)")
        #expect(first.severity == .error)
        #expect(first.location == SourceLocation(source: "/etc/multipath.conf", line: line, column: column))
        #expect(first.message.contains(words), "\(first.message)")
        #expect(first.description.hasPrefix("/etc/multipath.conf:\(line):\(column): error: "))
    }

    @Test(arguments: ["", "\n", "a", "defaults {\r\n}\r\n", "defaults {\n}", "# only\n\n  \t\n"])
    func printIsTheInput(_ text: String) {
        #expect(MultipathConf(text: text, source: "m").text == text)
    }

    /// Parse then print is byte-identical for any text the grammar accepts.
    @Test func roundTripsGeneratedConfigs() async {
        let word = Gen<String?>.element(of: ["yes", "5", "multibus", "\"a b\"", "\"x\"\"y\"", "\"\""]).map { $0 ?? "" }
        let key = Gen<String?>.element(of: ["polling_interval", "user_friendly_names", "no_path_retry", "bogus"]).map { $0 ?? "" }
        let space = Gen<String?>.element(of: [" ", "\t", "  "]).map { $0 ?? "" }
        let comment = Gen<String?>.element(of: ["", " # c", " !x", "#"]).map { $0 ?? "" }
        let ending = Gen<String?>.element(of: ["\n", "\r\n"]).map { $0 ?? "" }
        let setting = zip(space, key, space, word, comment, ending).map { t in "\(t.0)\(t.1)\(t.2)\(t.3)\(t.4)\(t.5)" }
        let filler = Gen<String?>.element(of: ["\n", "# note\n", "   \n"]).map { $0 ?? "" }
        let line = zip(Gen.bool, setting, filler).map { t in t.0 ? t.1 : t.2 }
        let section = zip(Gen<String?>.element(of: ["defaults", "overrides"]).map { $0 ?? "" }, line.array(of: 0...6), ending).map { t in
            "\(t.0) {\(t.2)" + t.1.joined() + "}\(t.2)"
        }
        let file = zip(section.array(of: 0...4), Gen.bool).map { t in
            var text = t.0.joined()
            if t.1, text.hasSuffix("\n") { text.removeLast() }
            return text
        }
        await propertyCheck(count: 300, input: file) { text in
            let conf = MultipathConf(text: text, source: "m")
            #expect(conf.syntaxDiagnostics.isEmpty, "\(conf.syntaxDiagnostics)")
            #expect(conf.text == text)
        }
    }
}

/// `applying` parses again only the top-level entries line edits touch: the tree must be the
/// one a parse of the whole edited file gives, edits that break the structure included.
@Suite struct MultipathConfEditTests {
    static let file = Gen<String?>.element(of: [
        "defaults {\n\tpolling_interval 5\n}\n", "# note\n", "\n",
        "devices {\n\tdevice {\n\t\tvendor \"EQLOGIC\"\n\t\tproduct \"100E-00\"\n\t}\n}\n",
        "multipaths {\n\tmultipath {\n\t\twwid 36090a0\n\t\talias vol-1\n\t}\n\tmultipath {\n\t\twwid 36090a1\n\t}\n}\n",
        "overrides {\r\n\tno_path_retry fail\r\n}\r\n", "blacklist {\n\twwid 3600508b1001c\n}\n",
    ]).map { $0 ?? "" }.array(of: 0...6).map { $0.joined() }
    static let text = Gen<String?>.element(of: [
        "\tpolling_interval 10", "}", "defaults {", "", "# c", "\tno_path_retry \"a b\"", "overrides {", "multipath {",
        "\tuser_friendly_names yes", "devices", "{",
    ]).map { $0 ?? "" }
    /// Edits as numbers, made into line indices of the file they are applied to.
    static let edit = zip(Gen.bool, Gen<Int>.int(in: 0...1000), text.array(of: 0...2))

    static func edits(_ seeds: [(Bool, Int, [String])], lineCount: Int) -> [LineEdit] {
        var replaced: Set<Int> = []
        return seeds.compactMap { replace, at, lines in
            if replace {
                guard lineCount > 0, replaced.insert(at % lineCount).inserted else { return nil }
                return .replace(line: at % lineCount, with: lines)
            }
            return .insert(before: at % (lineCount + 1), lines: lines.isEmpty ? ["# added"] : lines)
        }
    }

    @Test func editedTreeIsTheWholeFilesTree() async {
        await propertyCheck(count: 400, input: zip(Self.file, Self.edit.array(of: 0...4), Self.edit.array(of: 0...3))) { input in
            var conf = MultipathConf(text: input.0, source: "m")
            for seeds in [input.1, input.2] {
                let edits = Self.edits(seeds, lineCount: conf.lines.lines.count)
                let (edited, origin) = conf.applying(edits)
                let (lines, _) = LineEditor.apply(edits, to: conf.lines)
                let whole = MultipathConf(lines: lines, source: "m")
                #expect(edited.lines == whole.lines)
                #expect(edited.root == whole.root, "\(edits) on \(conf.text.debugDescription)")
                #expect(edited.syntaxDiagnostics == whole.syntaxDiagnostics)
                // an entry not listed as edited is one of the first file's, moved
                let firstTexts = Set(MultipathConf(text: input.0, source: "m").root.map { Self.text(of: $0, in: input.0) })
                for index in whole.root.indices where !edited.editedEntries.contains(index) {
                    #expect(firstTexts.contains(Self.text(of: whole.root[index], in: whole.text)))
                }
                for index in lines.lines.indices {
                    if let old = origin[index], !edits.contains(.replace(line: old, with: [])),
                        !edits.contains(where: { if case .replace(old, _) = $0 { true } else { false } })
                    {
                        #expect(conf.lines.lines[old].text == lines.lines[index].text)
                    }
                }
                conf = edited
            }
        }
    }

    /// An entry's lines, for comparing entries of two files.
    static func text(of entry: MultipathEntry, in text: String) -> String {
        let lines = TextLines(splitting: text).lines
        let (first, last): (Int, Int) =
            switch entry {
            case .setting(let s): (s.line, s.line)
            case .section(let s): (s.headerLine, s.closeLine ?? s.headerLine)
            }
        return lines[first...last].map(\.text).joined(separator: "\n")
    }

    /// Where each line of an edited file came from.
    @Test func originOfEachLine() {
        let input = TextLines(splitting: "a\nb\nc\nd\n")
        let (lines, origin) = LineEditor.apply(
            [.insert(before: 0, lines: ["x"]), .replace(line: 1, with: ["b1", "b2"]), .replace(line: 2, with: []), .insert(before: 4, lines: ["y"])],
            to: input)
        #expect(lines.lines.map(\.text) == ["x", "a", "b1", "b2", "d", "y"])
        #expect(lines.lines.indices.map { origin[$0] } == [nil, 0, 1, nil, 3, nil])
        #expect(origin.newIndex(ofKept: 0) == 1)
        #expect(origin.newIndex(ofKept: 3) == 4)
    }
}

@Suite struct MultipathLintTests {
    func fixed(_ text: String, version: MultipathToolsVersion = .debian12) -> (String, [MultipathFinding]) {
        let conf = MultipathConf(text: text, source: "m")
        let findings = MultipathLint.findings(conf, version: version)
        let (lines, _) = LineEditor.apply(findings.flatMap(\.edits), to: conf.lines)
        return (lines.joined, findings)
    }

    @Test func migratesThe2013EqualLogicExample() throws {
        let (text, findings) = fixed(
            """
            devices {
            \tdevice {
            \t\tvendor "EQLOGIC"
            \t\tproduct "100E-00"
            \t\tgetuid_callout "/sbin/scsi_id -g -u -s /block/%n"
            \t\tfeatures "1 queue_if_no_path"
            \t\tpath_checker readsector0
            \t}
            }

            """)
        #expect(findings.count == 3)
        #expect(text.contains("\t\t# getuid_callout \"/sbin/scsi_id -g -u -s /block/%n\"\n"))
        #expect(text.contains("\t\tno_path_retry queue\n"))
        #expect(!text.contains("features"))
        #expect(text.contains("\t\tpath_checker tur\n"))
        // the result is clean
        #expect(MultipathLint.findings(MultipathConf(text: text, source: "m")).isEmpty)
    }

    @Test func keepsOtherFeaturesAndRespectsNoPathRetry() {
        let (text, _) = fixed("devices {\n\tdevice {\n\t\tvendor \"NETAPP\"\n\t\tproduct \"LUN\"\n\t\tfeatures \"3 queue_if_no_path pg_init_retries 50\"\n\t\tno_path_retry 30\n\t}\n}\n")
        #expect(text.contains("features \"2 pg_init_retries 50\"\n"))
        #expect(!text.contains("no_path_retry queue"))
    }

    @Test func fixesTheVNXProductStar() {
        let (text, findings) = fixed("devices {\n\tdevice {\n\t\tvendor \"DGC\"\n\t\tproduct \"*\"\n\t}\n}\n")
        #expect(text.contains("product \".*\""))
        #expect(findings.first?.diagnostic.location.line == 4)
        #expect(findings.first?.diagnostic.message.contains("not a valid regular expression") == true)
    }

    @Test func renamesAndCommentsOutWhatIsNotAKeyword() {
        let (text, findings) = fixed("defaults {\n\tselector \"round-robin 0\"\n\tudev_dir /dev\n\tpolling_interval 5\n}\n")
        #expect(text.contains("\tpath_selector \"round-robin 0\"\n"))
        #expect(text.contains("\t# udev_dir /dev\n"))
        #expect(findings.map(\.diagnostic.location.line) == [2, 3])
    }

    @Test func flushOnLastDelDependsOnTheRelease() {
        let conf = "defaults {\n\tflush_on_last_del yes\n}\n"
        #expect(fixed(conf, version: MultipathToolsVersion(0, 9, 4)).1.isEmpty)
        #expect(fixed(conf, version: MultipathToolsVersion(0, 9, 9)).0.contains("flush_on_last_del always"))
    }

    @Test func invalidBlacklistRegexIsCommentedOut() {
        let (text, findings) = fixed("blacklist {\n\tdevnode \"^(sd[a-z]\"\n\tdevnode \"!^sd\"\n}\n")
        #expect(findings.count == 1)
        #expect(text.contains("\t# devnode \"^(sd[a-z]\"\n"))
    }

    /// Each release's keyword table is its capture (scripts/capture-multipath-keywords; 0.11.1 with
    /// MPT_ROOT=$(scripts/mpt-chroot)).
    @Test(arguments: ["0.9.4", "0.11.1"], ["defaults", "device", "multipath", "overrides", "protocol", "blacklist", "blacklist_exceptions", "blacklist_device"])
    func keywordTableMatchesTheCapture(_ release: String, _ scope: String) throws {
        let version = try #require(MultipathToolsVersion(parsing: release))
        let url = try #require(Bundle.module.url(forResource: "Fixtures/multipath-tools-\(release)/keywords-\(scope)", withExtension: "txt"))
        let captured = Set(try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init))
        #expect(MultipathGrammar.keywords(for: version)[scope] == captured)
        if release == "0.9.4" { #expect(MultipathGrammar.keywords[scope] == captured) }
    }

    /// A keyword 0.11.1 added is known for a Debian 13 host and commented out for a Debian 12 one.
    @Test func keywordsFollowTheRelease() {
        let conf = "defaults {\n\tdetect_pgpolicy yes\n}\n"
        #expect(fixed(conf, version: .debian13).1.isEmpty)
        #expect(fixed(conf, version: .debian12).0.contains("# detect_pgpolicy yes"))
    }

    /// NEWS.md, 0.9.7: bindings_file, wwids_file and prkeys_file were removed (accepted, ignored).
    @Test(arguments: ["bindings_file", "wwids_file", "prkeys_file"])
    func stateFilesAreIgnoredFrom097(_ key: String) {
        let conf = "defaults {\n\t\(key) /etc/multipath/x\n}\n"
        #expect(fixed(conf, version: MultipathToolsVersion(0, 9, 6)).1.isEmpty)
        let findings = fixed(conf, version: MultipathToolsVersion(0, 9, 7)).1
        #expect(findings.count == 1)
        #expect(findings.contains { "\($0)".contains("ignored from multipath-tools 0.9.7") }, "\(findings)")
    }

    /// Releases between the captures get the keywords of the release that added them (NEWS.md:
    /// detect_pgpolicy* in 0.9.6, max_retries and auto_resize in 0.9.7): a 0.10.x host knows all four.
    @Test(arguments: [
        ("0.9.5", false, false), ("0.9.6", true, false), ("0.9.7", true, true), ("0.10.0", true, true), ("0.10.4", true, true),
    ])
    func keywordsBetweenTheCaptures(_ release: String, _ pgpolicy: Bool, _ retries: Bool) throws {
        let version = try #require(MultipathToolsVersion(parsing: release))
        #expect(MultipathGrammar.knows("detect_pgpolicy", inScope: "defaults", version: version) == pgpolicy)
        #expect(MultipathGrammar.knows("detect_pgpolicy_use_tpg", inScope: "device", version: version) == pgpolicy)
        #expect(MultipathGrammar.knows("max_retries", inScope: "defaults", version: version) == retries)
        #expect(MultipathGrammar.knows("auto_resize", inScope: "device", version: version) == false)
        let conf = "defaults {\n\tdetect_pgpolicy yes\n\tmax_retries 3\n}\n"
        #expect(fixed(conf, version: version).1.count == [pgpolicy, retries].filter { !$0 }.count)
    }
}

/// scripts/fuzz's find (Fuzz/Corpus/multipath-conf/regcomp-oom): blacklist devnode patterns with
/// runs of `+` made glibc's regcomp allocate 2.5 GB while the lint checked them. Such patterns are
/// not compiled now, and the lint says so on their line.
@Suite struct RegcompBoundTests {
    static let input = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus/multipath-conf/regcomp-oom")

    @Test func aPatternRegcompCouldBlowUpOnIsNotCompiled() throws {
        let bytes = try Data(contentsOf: Self.input)
        let conf = MultipathConf(text: String(decoding: bytes, as: UTF8.self), source: "regcomp-oom")
        let findings = MultipathLint.findings(conf)
        #expect(findings.contains { $0.diagnostic.message.contains("sanpath does not compile it") })
        #expect(MultipathLint.tooComplex("^(ram|" + String(repeating: "+", count: 58) + ")"))
        #expect(MultipathLint.tooComplex("a{1000}"))
        #expect(MultipathLint.tooComplex(String(repeating: "a", count: 2000)))
        // what real files hold is still checked
        for pattern in ["^(ram|raw|loop|fd|md|dm-|sr|scd|st)[0-9]*", "^sd[a-z]+[0-9]*$", "^cciss!c[0-9]d[0-9]*", "LUN.*", "^(RAID|DISK|VRAID)", "x{2,3}"] {
            #expect(!MultipathLint.tooComplex(pattern), "\(pattern)")
        }
        #expect(MultipathLint.regexProblem("*") != nil)
    }
}
