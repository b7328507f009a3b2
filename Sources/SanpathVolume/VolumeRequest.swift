import SanpathCore
import SanpathSite

/// One way to a volume: a portal of a target, reached through a logical iface (`iface0`, bound to
/// a NIC by the site's `STORAGE_INTERFACES`) or, without one, by the default route.
public struct VolumePath: Sendable, Hashable, CustomStringConvertible {
    /// Logical iface from the connect string or `--portal iface0:addr`; nil: default route.
    public var iface: String?
    /// The portal.
    public var portal: PortalAddress
    /// Target IQN.
    public var target: String

    /// Creates a path.
    public init(iface: String?, portal: PortalAddress, target: String) {
        self.iface = iface
        self.portal = portal
        self.target = target
    }

    /// `iface0 -> 192.0.2.2:3260 iqn…`.
    public var description: String { "\(iface ?? "default") -> \(portal) \(target)" }
}

/// What an attach is asked for: the paths of one LUN, and the CHAP credentials if the target
/// wants them. The secret never reaches a description, an argv or a log.
public struct VolumeRequest: Sendable, Hashable {
    /// Every path, in the order given.
    public var paths: [VolumePath]
    /// The LUN number on the target(s).
    public var lun: Int
    /// CHAP user and secret for the node records, if any.
    public var chap: CHAPCredentials?

    /// Creates a request.
    public init(paths: [VolumePath], lun: Int, chap: CHAPCredentials? = nil) {
        self.paths = paths
        self.lun = lun
        self.chap = chap
    }
}

/// Eucalyptus' connect string, as the SC's ExportVolume returns it to the NC (3.x-4.0, read by
/// `tools/iscsitarget_common.pl`): `user,auth_mode,lun,encrypted_password,iface,ip,iqn[,iface,ip,iqn…]`,
/// optionally with the NC's EUCA_HOME in front (the form the NC's C code hands its script).
public struct ConnectString: Sendable, Hashable {
    /// CHAP user (Eucalyptus' default `eucalyptus` when empty).
    public var user: String
    /// Non-empty: no password is needed.
    public var authMode: String
    /// The LUN, nil when the string leaves it empty (Eucalyptus then takes the first LUN found).
    public var lun: Int?
    /// The CHAP secret, RSA-encrypted with the node's key and base64-encoded; empty when none.
    public var encryptedPassword: String
    /// The paths.
    public var paths: [VolumePath]

    /// Whether the target needs the CHAP secret (Eucalyptus: an empty auth mode).
    public var needsPassword: Bool { authMode.isEmpty && !encryptedPassword.isEmpty }

    /// Parses; errors name the field and its position, never the encrypted password.
    public init(_ text: String, source: String = "--connect-string") throws(SanpathError) {
        var fields = text.trimmingWhitespace().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        func fail(_ message: String) -> SanpathError {
            SanpathError(.invalidSite, "\(source): \(message) (Eucalyptus' form: user,auth_mode,lun,encrypted_password,iface,ip,iqn[,iface,ip,iqn...])")
        }
        // with EUCA_HOME in front the count is 5 + 3n, without it 4 + 3n
        if fields.count >= 8, (fields.count - 5) % 3 == 0, fields[0].hasPrefix("/") || fields[0].isEmpty {
            fields.removeFirst()
        }
        guard fields.count >= 7, (fields.count - 4) % 3 == 0 else {
            throw fail("\(fields.count) fields: the target paths are not complete (need 4 fields and then iface,ip,iqn triples)")
        }
        user = fields[0].isEmpty ? "eucalyptus" : fields[0]
        authMode = fields[1]
        if fields[2].isEmpty {
            lun = nil
        } else {
            guard let number = Int(fields[2]), (0...16_383).contains(number) else {
                throw fail("field 3, the LUN, is '\(fields[2])': not a LUN number")
            }
            lun = number
        }
        encryptedPassword = fields[3]
        var paths: [VolumePath] = []
        var index = 4
        while index < fields.count {
            let (iface, address, iqn) = (fields[index], fields[index + 1], fields[index + 2])
            let position = (index - 4) / 3 + 1
            guard !address.isEmpty else { throw fail("path \(position) has no portal address") }
            // Eucalyptus strips one trailing dot from each IQN ("sanitize_path")
            let target = iqn.hasSuffix(".") ? String(iqn.dropLast()) : iqn
            guard target.hasPrefix("iqn.") || target.hasPrefix("eui.") || target.hasPrefix("naa.") else {
                throw fail("path \(position): '\(iqn)' is not an iSCSI name (iqn., eui. or naa.)")
            }
            let portal: PortalAddress
            do {
                let parsed = try SiteValues.parsePaths(address, what: "\(source) path \(position)", at: SourceLocation(source: source))
                guard parsed.count == 1, parsed[0].iface == nil else { throw fail("path \(position): '\(address)' is not one portal address") }
                portal = parsed[0].portal
            } catch {
                throw fail("path \(position): '\(address)' is not a portal address")
            }
            paths.append(VolumePath(iface: iface.isEmpty ? nil : iface, portal: portal, target: target))
            index += 3
        }
        self.paths = paths
    }
}
