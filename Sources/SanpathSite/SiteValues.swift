#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SanpathCore

/// Parsers for the site's value syntaxes, Eucalyptus' own: `addr,addr` or `iface0:addr,iface1:addr`
/// paths, comma lists of SAN hosts, and `iface0=br0,iface1=eth1` interface maps.
///
/// Each takes the text and the location of its first character, and reports a problem with the
/// exact column of the offending element.
public enum SiteValues {
    /// The property's name in errors (`storage.ncpaths`, `paths`, `--paths`).
    static func error(_ what: String, _ message: String, at location: SourceLocation, text: String) -> SanpathError {
        let full = "\(what): \(message)"
        return SanpathError(
            .invalidSite, full, at: location,
            diagnostics: [Diagnostic(.error, at: location, full, text: text)])
    }

    /// Splits `text` at commas, keeping each element's column offset.
    static func elements(_ text: String) -> [(text: String, offset: Int)] {
        var out: [(String, Int)] = []
        var current = ""
        var start = 0
        var offset = 0
        for ch in text {
            if ch == "," {
                out.append((current, start))
                current = ""
                start = offset + 1
            } else {
                current.append(ch)
            }
            offset += 1
        }
        out.append((current, start))
        return out
    }

    /// Trims spaces around an element, moving its offset past leading ones.
    static func trimmed(_ element: (text: String, offset: Int)) -> (text: String, offset: Int) {
        let leading = element.text.prefix(while: { $0 == " " || $0 == "\t" }).count
        return (element.text.trimmingWhitespace(), element.offset + leading)
    }

    /// Parses Eucalyptus path syntax: `addr,addr,…` or `iface0:addr,iface1:addr,…`, where addr is
    /// an IPv4 address or host name with an optional `:port`, or a bracketed IPv6 address.
    public static func parsePaths(_ text: String, what: String, at location: SourceLocation) throws(SanpathError) -> [ISCSIPath] {
        let trimmedText = text.trimmingWhitespace()
        if trimmedText.isEmpty {
            throw error(what, "no iSCSI path given", at: location, text: text)
        }
        if trimmedText == "nopath" {
            throw error(what, "is 'nopath', Eucalyptus' placeholder: the paths are not configured yet", at: location, text: text)
        }
        var paths: [ISCSIPath] = []
        for raw in elements(text) {
            let (element, offset) = trimmed(raw)
            let here = location.shifted(by: offset)
            guard !element.isEmpty else {
                throw error(what, "empty path (two commas in a row, or a comma at either end)", at: here, text: text)
            }
            paths.append(try parsePath(element, what: what, at: here))
        }
        return paths
    }

    static func parsePath(_ element: String, what: String, at location: SourceLocation) throws(SanpathError) -> ISCSIPath {
        var iface: String?
        var rest = Substring(element)
        var restOffset = 0
        // `iface0:[fe80::1]:3260` or `[fe80::1]`: the iface, if any, is before the bracket
        if let bracket = element.firstIndex(of: "[") {
            let before = element[..<bracket]
            if !before.isEmpty {
                guard before.hasSuffix(":") else {
                    throw error(what, "expected 'iface:' before '['", at: location, text: element)
                }
                iface = String(before.dropLast())
            }
            restOffset = element.distance(from: element.startIndex, to: bracket)
            rest = element[bracket...]
            let (host, port) = try parseBracketedHost(rest, what: what, at: location.shifted(by: restOffset))
            if let iface { try checkIfaceName(iface, what: what, at: location, element: element) }
            return ISCSIPath(iface: iface, portal: PortalAddress(host: host, port: port ?? 3260), location: location)
        }
        let parts = element.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var host: String
        var port: Int?
        var hostOffset = 0
        switch parts.count {
        case 1:
            host = parts[0]
        case 2:
            if !parts[1].isEmpty, parts[1].allSatisfy(\.isASCIIDigit) {
                host = parts[0]
                port = try parsePort(parts[1], what: what, at: location.shifted(by: parts[0].count + 1))
            } else {
                iface = parts[0]
                host = parts[1]
                hostOffset = parts[0].count + 1
            }
        case 3:
            iface = parts[0]
            host = parts[1]
            hostOffset = parts[0].count + 1
            port = try parsePort(parts[2], what: what, at: location.shifted(by: parts[0].count + parts[1].count + 2))
        default:
            throw error(
                what, "too many ':' in the path; write iface:address[:port] (IPv6 in brackets)",
                at: location, text: element)
        }
        if let iface {
            if iface.isEmpty {
                throw error(what, "empty iface name before ':'", at: location, text: element)
            }
            try checkIfaceName(iface, what: what, at: location, element: element)
            if host.isEmpty {
                throw error(what, "'\(iface):' has no address after it", at: location, text: element)
            }
        }
        try checkHost(host, what: what, at: location.shifted(by: hostOffset))
        return ISCSIPath(iface: iface, portal: PortalAddress(host: host, port: port ?? 3260), location: location)
    }

    static func parseBracketedHost(
        _ text: Substring, what: String, at location: SourceLocation
    ) throws(SanpathError) -> (String, Int?) {
        guard let close = text.firstIndex(of: "]") else {
            throw error(what, "'[' without ']' around an IPv6 address", at: location, text: String(text))
        }
        let host = String(text[text.index(after: text.startIndex)..<close])
        guard isIPv6(host) else {
            throw error(what, "invalid IPv6 address '\(host)'", at: location.shifted(by: 1), text: String(text))
        }
        let after = text[text.index(after: close)...]
        if after.isEmpty { return (host, nil) }
        guard after.hasPrefix(":") else {
            throw error(what, "unexpected text after ']'", at: location, text: String(text))
        }
        let portOffset = text.distance(from: text.startIndex, to: close) + 2
        return (host, try parsePort(String(after.dropFirst()), what: what, at: location.shifted(by: portOffset)))
    }

    /// A TCP port: digits, 1–65535.
    static func parsePort(_ text: String, what: String, at location: SourceLocation) throws(SanpathError) -> Int {
        guard !text.isEmpty, text.allSatisfy(\.isASCIIDigit), text.count <= 5, let port = Int(text),
            (1...65535).contains(port)
        else {
            throw error(what, "port '\(text)' is not in 1–65535", at: location, text: text)
        }
        return port
    }

    /// open-iscsi iface names: up to 64 characters, not the reserved `default` and `iser`.
    static func checkIfaceName(_ name: String, what: String, at location: SourceLocation, element: String) throws(SanpathError) {
        let allowed = name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
        guard allowed, name.count <= 64 else {
            throw error(what, "invalid iface name '\(name)' (letters, digits, '_', '.', '-'; at most 64)", at: location, text: element)
        }
        guard name != "default", name != "iser" else {
            throw error(what, "'\(name)' is a name open-iscsi reserves; use e.g. iface0", at: location, text: element)
        }
    }

    /// An IPv4 literal (all digits and dots, checked octet by octet) or a host name (RFC 1123).
    public static func checkHost(_ host: String, what: String, at location: SourceLocation) throws(SanpathError) {
        guard !host.isEmpty else { throw error(what, "empty address", at: location, text: host) }
        if host.allSatisfy({ $0.isASCIIDigit || $0 == "." }) {
            let octets = host.split(separator: ".", omittingEmptySubsequences: false)
            guard octets.count == 4 else {
                throw error(what, "invalid IPv4 address '\(host)': it needs 4 numbers, found \(octets.count)", at: location, text: host)
            }
            for octet in octets {
                guard !octet.isEmpty, octet.count <= 3, let value = Int(octet) else {
                    throw error(what, "invalid IPv4 address '\(host)': empty or over-long number", at: location, text: host)
                }
                guard value <= 255 else {
                    throw error(what, "invalid IPv4 address '\(host)': \(value) is over 255", at: location, text: host)
                }
            }
            return
        }
        guard host.utf8.count <= 253 else {
            throw error(what, "host name '\(host)' is longer than 253 characters", at: location, text: host)
        }
        for label in host.split(separator: ".", omittingEmptySubsequences: false) {
            let valid =
                !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            guard valid else {
                throw error(what, "invalid host name '\(host)'", at: location, text: host)
            }
        }
    }

    /// Whether the text is an IPv6 literal (as `inet_pton` reads it).
    static func isIPv6(_ text: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, text, &address) == 1
    }

    /// Parses `storage.sanhost`: a comma list of hosts, each optionally `host:port`.
    public static func parseSANHosts(_ text: String, what: String, at location: SourceLocation) throws(SanpathError) -> [SANHost] {
        guard !text.trimmingWhitespace().isEmpty else {
            throw error(what, "no SAN management host given", at: location, text: text)
        }
        var hosts: [SANHost] = []
        for raw in elements(text) {
            let (element, offset) = trimmed(raw)
            let here = location.shifted(by: offset)
            guard !element.isEmpty else {
                throw error(what, "empty host name (two commas in a row, or a comma at either end)", at: here, text: text)
            }
            var host = element
            var port: Int?
            if element.hasPrefix("[") {
                let (h, p) = try parseBracketedHost(Substring(element), what: what, at: here)
                host = h
                port = p
            } else if let colon = element.firstIndex(of: ":") {
                host = String(element[..<colon])
                port = try parsePort(String(element[element.index(after: colon)...]), what: what, at: here.shifted(by: host.count + 1))
                try checkHost(host, what: what, at: here)
            } else {
                try checkHost(host, what: what, at: here)
            }
            if hosts.contains(where: { $0.host == host && $0.port == port }) {
                throw error(what, "SAN host '\(element)' is listed twice", at: here, text: element)
            }
            hosts.append(SANHost(host: host, port: port, location: here))
        }
        return hosts
    }

    /// Parses the `STORAGE_INTERFACES` value: `iface0=br0,iface1=eth1`.
    public static func parseInterfaces(_ text: String, what: String, at location: SourceLocation) throws(SanpathError) -> [InterfaceBinding] {
        guard !text.trimmingWhitespace().isEmpty else {
            throw error(what, "no iface=NIC pair given", at: location, text: text)
        }
        var bindings: [InterfaceBinding] = []
        for raw in elements(text) {
            let (element, offset) = trimmed(raw)
            let here = location.shifted(by: offset)
            guard !element.isEmpty else {
                throw error(what, "empty iface=NIC pair (two commas in a row, or a comma at either end)", at: here, text: text)
            }
            let parts = element.split(separator: "=", omittingEmptySubsequences: false).map { String($0).trimmingWhitespace() }
            guard parts.count == 2 else {
                throw error(what, "expected iface=NIC, e.g. iface0=br0", at: here, text: element)
            }
            guard !parts[0].isEmpty else { throw error(what, "empty iface name before '='", at: here, text: element) }
            guard !parts[1].isEmpty else { throw error(what, "'\(parts[0])=' has no NIC after it", at: here, text: element) }
            try checkIfaceName(parts[0], what: what, at: here, element: element)
            try checkNICName(parts[1], what: what, at: here.shifted(by: element.distance(from: element.startIndex, to: element.firstIndex(of: "=")!) + 1))
            if let first = bindings.first(where: { $0.iface == parts[0] }) {
                throw error(what, "iface '\(parts[0])' is mapped twice (first at \(first.location))", at: here, text: element)
            }
            bindings.append(InterfaceBinding(iface: parts[0], nic: parts[1], location: here))
        }
        return bindings
    }

    /// Linux interface names: 1–15 characters, no '/', ':' or whitespace.
    static func checkNICName(_ name: String, what: String, at location: SourceLocation) throws(SanpathError) {
        let valid =
            !name.isEmpty && name.utf8.count <= 15 && name != "." && name != ".."
            && name.allSatisfy { $0.isASCII && !$0.isWhitespace && $0 != "/" && $0 != ":" }
        guard valid else {
            throw error(what, "invalid NIC name '\(name)' (1–15 characters, no '/', ':' or spaces)", at: location, text: name)
        }
    }
}

extension SourceLocation {
    /// The same place, `offset` characters further along the line.
    public func shifted(by offset: Int) -> SourceLocation {
        guard offset != 0 else { return self }
        return SourceLocation(source: source, line: line, column: (column ?? 1) + offset)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
