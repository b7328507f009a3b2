#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// The repository's unit file.
let unitPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("etc/systemd/sanpath-monitor.service").path

/// A program on PATH.
func onPath(_ name: String) -> String? {
    (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/\(name)" }
        .first { FileManager.default.isExecutableFile(atPath: $0) }
}

@Suite("systemd unit")
struct SystemdUnitTests {
    /// `Key=value` lines of the [Service] section.
    func serviceSettings() throws -> [String: [String]] {
        let text = try String(contentsOfFile: unitPath, encoding: .utf8)
        var section = ""
        var out: [String: [String]] = [:]
        for line in text.split(separator: "\n").map(String.init) where !line.hasPrefix("#") {
            if line.hasPrefix("[") {
                section = line
            } else if section == "[Service]", let equals = line.firstIndex(of: "=") {
                out[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
            }
        }
        return out
    }

    @Test(
        "the service is what the daemon expects of systemd, and hardened",
        arguments: [
            ("Type", "notify"), ("WatchdogSec", "30s"), ("ExecStart", "/usr/local/bin/sanpath monitor --config /etc/sanpath/monitor.toml"),
            ("ExecReload", "/bin/kill -HUP $MAINPID"), ("Restart", "on-failure"), ("StateDirectory", "sanpath"),
            ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("NoNewPrivileges", "yes"),
            ("RestrictAddressFamilies", "AF_UNIX AF_NETLINK AF_INET AF_INET6"), ("CapabilityBoundingSet", "CAP_SYS_ADMIN CAP_NET_RAW"),
            ("LockPersonality", "yes"), ("RestrictRealtime", "yes"), ("SystemCallArchitectures", "native"), ("MemoryMax", "256M"),
            ("DeviceAllow", "/dev/mapper/control rw"),
        ])
    func setting(key: String, value: String) throws {
        #expect(try serviceSettings()[key] == [value])
    }

    @Test(
        "systemd-analyze verify finds nothing wrong",
        .enabled(if: getuid() == 0 && onPath("systemd-analyze") != nil && onPath("unshare") != nil, "needs root, systemd-analyze and unshare"))
    func verify() throws {
        // verify insists that ExecStart exists: a stand-in binary on a tmpfs over /usr/local/bin,
        // in a mount namespace of its own, so the host is left alone
        let script = """
            mount -t tmpfs tmpfs /usr/local/bin && printf '#!/bin/sh\\n' > /usr/local/bin/sanpath && chmod +x /usr/local/bin/sanpath \
            && systemd-analyze verify "$1"
            """
        let (status, said) = try runProgram(try #require(onPath("unshare")), ["-m", "/bin/sh", "-c", script, "verify", unitPath])
        #expect(status == 0, "\(said)")
        #expect(said.isEmpty, "\(said)")
    }

    @Test("each capability the unit keeps is explained in a comment of its own")
    func capabilitiesAreExplained() throws {
        let text = try String(contentsOfFile: unitPath, encoding: .utf8)
        let capabilities = try #require(serviceSettings()["CapabilityBoundingSet"]?.first).split(separator: " ")
        #expect(!capabilities.isEmpty)
        for capability in capabilities {
            #expect(text.split(separator: "\n").contains { $0.hasPrefix("# \(capability): ") }, "\(capability) has no comment")
        }
    }

    /// systemd's own score of the sandbox (0 = locked down, 10 = exposed); 2.6 on 2026-11-30.
    @Test(
        "systemd-analyze security scores the unit OK or better",
        .enabled(if: onPath("systemd-analyze") != nil, "needs systemd-analyze (apt-get install systemd; nothing is started)"))
    func securityScore() throws {
        let (status, said) = try runProgram(
            try #require(onPath("systemd-analyze")), ["security", "--offline=yes", "--no-pager", unitPath])
        #expect(status == 0, "\(said)")
        let line = try #require(said.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(said)")
        let score = try #require(line.split(separator: " ").compactMap { Double($0) }.last, "\(line)")
        #expect(score <= 3.0, "\(line)")
    }
}
