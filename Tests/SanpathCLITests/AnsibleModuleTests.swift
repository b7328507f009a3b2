import Foundation
import Testing

/// contrib/ansible's `sanpath.storage.sanpath_provision`, run by a real `ansible-playbook`
/// (ansible-core from PyPI; scripts/test installs it) with the built sanpath on copies of the
/// corpus' host trees.
enum Ansible {
    static let playbook: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .map { "\($0)/ansible-playbook" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    static let required = ProcessInfo.processInfo.environment["SANPATH_REQUIRE_ANSIBLE"] == "1"
    static let collections = SanpathBinary.repository.appendingPathComponent("contrib/ansible")

    /// Runs a one-task play of the module on `tree` with `flags` (`--check`, `--diff`); returns
    /// ansible-playbook's exit status and output, and the task's registered result.
    static func run(_ tree: HostTree, _ flags: [String], work: URL) async throws -> (status: Int32, output: String, result: [String: Any]) {
        let playbookPath = try #require(playbook, "SANPATH_REQUIRE_ANSIBLE=1 but ansible-playbook is not on PATH (pip install ansible-core)")
        let resultFile = work.appendingPathComponent("result-\(UUID().uuidString.prefix(8)).json")
        let play = work.appendingPathComponent("play.yml")
        try Data(
            """
            - hosts: localhost
              connection: local
              gather_facts: false
              vars:
                ansible_python_interpreter: "{{ ansible_playbook_python }}"
              tasks:
                - name: multipath and iSCSI as the site says
                  sanpath.storage.sanpath_provision:
                    executable: "{{ sanpath }}"
                    root: "{{ root }}"
                    site: "{{ root }}/etc/sanpath/site.toml"
                    templates: "{{ templates }}"
                  register: provision
                  ignore_errors: true
                - name: keep the result for the test
                  ansible.builtin.copy:
                    content: "{{ provision | to_json }}"
                    dest: "{{ result_file }}"
                  check_mode: false
                  diff: false
            """.utf8
        ).write(to: play)
        let variables = try JSONSerialization.data(withJSONObject: [
            "sanpath": SanpathBinary.path, "root": tree.root.path, "templates": SanpathBinary.templates, "result_file": resultFile.path,
        ])
        let arguments = ["-i", "localhost,", play.path, "-e", String(decoding: variables, as: UTF8.self)] + flags
        var environment = ProcessInfo.processInfo.environment
        environment["ANSIBLE_COLLECTIONS_PATH"] = collections.path
        environment["ANSIBLE_LOCAL_TEMP"] = work.appendingPathComponent("tmp").path
        environment["ANSIBLE_HOME"] = work.appendingPathComponent("home").path
        environment["ANSIBLE_NOCOLOR"] = "1"
        environment["ANSIBLE_RETRY_FILES_ENABLED"] = "0"
        environment["ANSIBLE_LOCALHOST_WARNING"] = "0"
        let settings = environment
        // ansible-playbook takes seconds: wait for it on a Dispatch thread, not on one of the
        // two threads of Swift's cooperative pool every other async test needs
        let (status, said) = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Int32, String), any Error>) in
            DispatchQueue.global().async {
                continuation.resume(
                    with: Result {
                        let process = Process()
                        process.executableURL = URL(fileURLWithPath: playbookPath)
                        process.arguments = arguments
                        process.environment = settings
                        let output = Pipe()
                        process.standardOutput = output
                        process.standardError = output
                        try process.run()
                        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                        process.waitUntilExit()
                        return (process.terminationStatus, said)
                    })
            }
        }
        let data = try Data(contentsOf: resultFile)
        let result = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(said)")
        return (status, said, result)
    }
}

/// A fresh folder for the play, its temporary files and results; removed by the test.
func ansibleWorkFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sanpath-ansible-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite(
    "ansible: sanpath.storage.sanpath_provision", .serialized,
    .enabled(if: Ansible.playbook != nil || Ansible.required, "ansible-playbook is not installed"), .timeLimit(.minutes(5)))
struct AnsibleModuleTests {
    @Test("check mode changes nothing and shows the diff; apply changes; a second run is changed: false")
    func checkApplyIdempotent() async throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("eucalyptus-2013-equallogic/root"))
        let work = try ansibleWorkFolder()
        defer {
            tree.remove()
            try? FileManager.default.removeItem(at: work)
        }
        let before = try tree.files()

        let check = try await Ansible.run(tree, ["--check", "--diff"], work: work)
        #expect(check.status == 0, "\(check.output)")
        #expect(check.result["changed"] as? Bool == true, "\(check.output)")
        #expect(check.result["applied"] as? Bool == false)
        #expect(try tree.files() == before, "check mode wrote to the host")
        // the diff the Ansible way: shown by --diff, one prepared unified diff per changed file
        let diffs = try #require(check.result["diff"] as? [[String: Any]], "\(check.result)")
        #expect(diffs.count == 6)
        #expect(diffs.contains { ($0["prepared"] as? String)?.contains("+\t\tpath_grouping_policy multibus") == true })
        #expect(check.output.contains("-node.startup = automatic"), "ansible-playbook --diff did not print the diff")
        #expect(check.output.contains("+node.startup = manual"))
        let files = try #require(check.result["files"] as? [[String: Any]])
        #expect(files.filter { $0["changed"] as? Bool == true }.count == 6)
        #expect(check.result["profile"] as? String == "equallogic nc")

        let apply = try await Ansible.run(tree, ["--diff"], work: work)
        #expect(apply.status == 0, "\(apply.output)")
        #expect(apply.result["changed"] as? Bool == true)
        #expect(apply.result["applied"] as? Bool == true)
        #expect((apply.result["apply_record"] as? String)?.isEmpty == false, "\(apply.result)")
        let after = try tree.files(skipping: "var/lib/sanpath")
        #expect(after != before)
        let multipath = String(decoding: after["etc/multipath.conf"] ?? Data(), as: UTF8.self)
        #expect(multipath.contains("path_grouping_policy multibus"))
        #expect(after["etc/iscsi/ifaces/iface0"] != nil)

        let again = try await Ansible.run(tree, ["--diff"], work: work)
        #expect(again.status == 0, "\(again.output)")
        #expect(again.result["changed"] as? Bool == false, "\(again.result)")
        #expect(again.result["applied"] as? Bool == false)
        #expect(again.result["diff"] == nil)
        #expect(try tree.files(skipping: "var/lib/sanpath") == after)
        let checkAgain = try await Ansible.run(tree, ["--check"], work: work)
        #expect(checkAgain.result["changed"] as? Bool == false)
    }

    @Test("a file sanpath cannot parse fails the task with sanpath's message, and nothing is written")
    func failsWithSanpathsMessage() async throws {
        let tree = try HostTree(copying: Corpus.directory.appendingPathComponent("malformed-unmatched-brace/root"))
        let work = try ansibleWorkFolder()
        defer {
            tree.remove()
            try? FileManager.default.removeItem(at: work)
        }
        let before = try tree.files()
        for flags in [["--check"], []] {
            let run = try await Ansible.run(tree, flags, work: work)
            #expect(run.result["failed"] as? Bool == true, "\(run.output)")
            let message = try #require(run.result["msg"] as? String)
            #expect(message == "sanpath plan: \(tree.root.path)/etc/multipath.conf:4:1: error: unmatched '}': '}'", "\(message)")
            #expect(run.output.contains("unmatched '}'"))
        }
        #expect(try tree.files() == before)
    }
}
