import Foundation
import Testing

/// Which multipath-tools release's rules a plan uses, and that it says so (issue #14). No
/// multipath-tools needed: the release is given with --multipath-version.
@Suite struct MultipathVersionTests {
    @Test func planSaysWhichReleaseItUsed() throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("eucalyptus-2013-netapp/root"))
        defer { tree.remove() }
        let site = Corpus.siteArguments(tree)
        let text = try SanpathBinary.run(["plan", "--multipath-version", "0.11.1"] + site)
        #expect(text.status == 2, "\(text.all)")
        #expect(text.stdout.hasPrefix("sanpath plan: netapp nc profile, multipath-tools 0.11.1 rules (--multipath-version),"), "\(text.stdout.prefix(200))")
        let json = try SanpathBinary.run(["plan", "--format", "json", "--multipath-version", "0.11.1"] + site)
        #expect(json.stdout.contains("\"multipathTools\" : \"0.11.1\""))
        #expect(json.stdout.contains("\"multipathToolsFrom\" : \"flag\""))
    }

    /// The 2013 NetApp file's `flush_on_last_del yes` is what 0.11.1 calls deprecated: rewritten
    /// for a Debian 13 host, left for Debian 12's 0.9.4, which still takes yes.
    @Test func theMergeFollowsTheRelease() throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("eucalyptus-2013-netapp/root"))
        defer { tree.remove() }
        let site = Corpus.siteArguments(tree)
        let debian13 = try SanpathBinary.run(["plan", "--multipath-version", "0.11.1"] + site)
        #expect(debian13.stdout.contains("defaults flush_on_last_del yes -> always"), "\(debian13.stdout)")
        #expect(debian13.stdout.contains("+\tflush_on_last_del \talways"), "\(debian13.stdout)")
        let debian12 = try SanpathBinary.run(["plan", "--multipath-version", "0.9.4"] + site)
        #expect(!debian12.stdout.contains("flush_on_last_del yes ->"), "\(debian12.stdout)")
    }

    @Test func aVersionThatIsNoReleaseIsAnError() throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("eucalyptus-2013-netapp/root"))
        defer { tree.remove() }
        let result = try SanpathBinary.run(["plan", "--multipath-version", "latest"] + Corpus.siteArguments(tree))
        #expect(result.status == 1)
        #expect(result.stderr.contains("--multipath-version latest is not a release"), "\(result.stderr)")
    }
}
