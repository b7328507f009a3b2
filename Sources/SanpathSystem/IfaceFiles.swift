import Foundation
import SanpathConfig
import SanpathHealth

/// open-iscsi's iface files (`iscsiadm -m iface` records) in its database folder, read with the
/// same grammar open-iscsi uses (`ISCSIConf`).
public struct IfaceFilesReader: Sendable {
    /// The folders tried in order; the first that exists is the database (`/etc/iscsi/ifaces` on
    /// Debian, `/var/lib/iscsi/ifaces` on RHEL-style hosts).
    public var directories: [String]

    /// Reads the first of `directories` that exists.
    public init(directories: [String]) {
        self.directories = directories
    }

    /// The standard locations under a host root (`/`, or a test tree).
    public init(root: String = "/") {
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        self.init(directories: ["\(base)/etc/iscsi/ifaces", "\(base)/var/lib/iscsi/ifaces"])
    }

    /// The database folder in use, or nil when none exists.
    public var directory: String? {
        directories.first { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
    }

    /// Every iface file, sorted by name; a file that vanishes while being read is skipped.
    public func ifaces() -> [IfaceFile] {
        guard let directory else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().compactMap { name in
            let path = "\(directory)/\(name)"
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            return Self.iface(named: name, text: String(decoding: data, as: UTF8.self), source: path)
        }
    }

    /// One iface from its file's text. `<empty>`, `default` and empty values mean unset.
    public static func iface(named name: String, text: String, source: String) -> IfaceFile {
        let conf = ISCSIConf(text: text, source: source)
        func setting(_ key: String) -> String? {
            guard let value = conf.effective(key)?.value, !["", "<empty>", "default"].contains(value) else { return nil }
            return value
        }
        return IfaceFile(
            name: name, netIfaceName: setting("iface.net_ifacename"), hwAddress: setting("iface.hwaddress"),
            transport: setting("iface.transport_name"))
    }
}
