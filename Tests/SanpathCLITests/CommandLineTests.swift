import Foundation
import Testing

@Suite struct CommandLineTests {
    @Test(arguments: ["render", "plan", "apply", "rollback"])
    func everyVerbHasHelpThatTeaches(_ verb: String) throws {
        let result = try SanpathBinary.run([verb, "--help"], templates: false)
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE: sanpath \(verb)"))
        #expect(result.stdout.contains("--root") || verb == "render")
        #expect(result.stdout.count > 600, "help must explain, not only list")
    }

    /// README's first command: plan on the bundled example NC host shows a real diff and exits 2.
    @Test func exampleHostPlanShowsADiff() throws {
        let root = SanpathBinary.repository.appendingPathComponent("etc/examples/nc-host").path
        let result = try SanpathBinary.run(["plan", "--root", root])
        #expect(result.status == 2)
        #expect(result.stdout.contains("equallogic nc profile"))
        #expect(result.stdout.contains("-\t\tpath_checker readsector0\n"))
        #expect(result.stdout.contains("+\t\tpath_checker tur\n"))
        #expect(result.stdout.contains("+node.session.timeo.replacement_timeout = 15"))
        #expect(result.stdout.contains("Node records that keep old values"))
        #expect(!result.stdout.contains("Xq7vT2mL9pRw4kZ1"), "the example node record's CHAP secret leaked")
    }

    @Test func usageErrorsExitOneWithAMessage() throws {
        let result = try SanpathBinary.run(["plan", "--format", "yaml", "--vendor", "netapp"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("yaml"))
    }

    @Test func siteErrorsNameTheFlag() throws {
        let result = try SanpathBinary.run(["render", "--vendor", "netapp", "--role", "nc", "--paths", "iface0:10.108.1.300"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("--paths (column 8): error: --paths: invalid IPv4 address '10.108.1.300': 300 is over 255"))
    }
}
