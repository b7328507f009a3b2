#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Resolves a portal's host name to the addresses the kernel reports for its sessions, so a
/// site that names portals by host name compares with sysfs (which knows only addresses).
public enum AddressResolver {
    /// The numeric addresses of `host` (IPv4 dotted, IPv6 without brackets), in resolver order;
    /// a literal address is returned as it is; empty when it does not resolve.
    public static func addresses(of host: String) -> [String] {
        if isLiteral(host) { return [host] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var out: [String] = []
        var current: UnsafeMutablePointer<addrinfo>? = first
        while let entry = current {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !out.contains(text) { out.append(text) }
            }
            current = entry.pointee.ai_next
        }
        return out
    }

    /// The addresses of each host name among `hosts` (literals are left out: they stand for themselves).
    public static func addresses(ofNames hosts: [String]) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for host in hosts where !isLiteral(host) && out[host] == nil { out[host] = addresses(of: host) }
        return out
    }

    /// Whether `host` is already an IPv4 or IPv6 literal.
    public static func isLiteral(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
