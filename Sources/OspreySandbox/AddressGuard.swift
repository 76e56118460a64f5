import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An IP address, v4 or v6, as 4 or 16 bytes.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses an IP literal in every notation the C library accepts for connecting: dotted, short (`127.1`),
    /// decimal (`2130706433`), hex (`0x7f.1`), octal (`0177.0.0.1`), `0`, and IPv6 (with or without brackets).
    public init?(literal: String) {
        var text = literal
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        if let percent = text.firstIndex(of: "%") { text = String(text[..<percent]) }  // zone id
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: v6) { Array($0) }
            return
        }
        var v4 = in_addr()
        // inet_aton, not inet_pton: it takes exactly the legacy forms an attacker would use to hide 127.0.0.1.
        guard !text.isEmpty, text.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == "x" || $0 == "X" }),
            inet_aton(text, &v4) != 0
        else { return nil }
        bytes = withUnsafeBytes(of: v4.s_addr) { Array($0) }
    }

    public var isV4: Bool { bytes.count == 4 }

    /// The IPv4 address embedded in an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible or NAT64 (`64:ff9b::/96`) v6 address.
    public var embeddedV4: IPAddress? {
        guard bytes.count == 16 else { return nil }
        let prefix = Array(bytes[0..<12])
        let mapped: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF]
        let nat64: [UInt8] = [0x00, 0x64, 0xFF, 0x9B] + Array(repeating: 0, count: 8)
        if prefix == mapped || prefix == nat64
            || (prefix == Array(repeating: 0, count: 12) && bytes[12...] != [0, 0, 0, 1][...])
        {
            return IPAddress(bytes: Array(bytes[12..<16]))
        }
        return nil
    }

    public var description: String {
        if isV4 { return bytes.map(String.init).joined(separator: ".") }
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
        return String(cString: buffer)
    }
}

/// Refuses addresses a fetch must never reach: loopback, private, link-local (cloud metadata), CGNAT, unspecified,
/// multicast, broadcast, reserved, and any of those hidden inside an IPv6 address.
public enum AddressGuard {
    /// Why `address` is refused, or nil when it is a public address.
    public static func refusal(_ address: IPAddress) -> String? {
        if let embedded = address.embeddedV4 { return refusal(embedded).map { "\($0) (inside \(address))" } }
        let b = address.bytes
        if address.isV4 {
            switch (b[0], b[1]) {
            case (0, _): return "unspecified address \(address)"
            case (127, _): return "loopback address \(address)"
            case (10, _): return "private address \(address)"
            case (172, 16...31): return "private address \(address)"
            case (192, 168): return "private address \(address)"
            case (169, 254): return "link-local address \(address) (cloud metadata lives here)"
            case (100, 64...127): return "shared (CGNAT) address \(address)"
            case (192, 0) where b[2] == 0 || b[2] == 2: return "reserved address \(address)"
            case (198, 18...19): return "benchmarking address \(address)"
            case (198, 51) where b[2] == 100, (203, 0) where b[2] == 113: return "documentation address \(address)"
            case (224...239, _): return "multicast address \(address)"
            case (240...255, _): return "reserved address \(address)"
            default: return nil
            }
        }
        if b.allSatisfy({ $0 == 0 }) { return "unspecified address \(address)" }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return "loopback address \(address)" }
        if b[0] & 0xFE == 0xFC { return "private address \(address)" }
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return "link-local address \(address)" }
        if b[0] == 0xFE && b[1] & 0xC0 == 0xC0 { return "site-local address \(address)" }
        if b[0] == 0xFF { return "multicast address \(address)" }
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return "documentation address \(address)" }
        if b[0] == 0x20 && b[1] == 0x02 {  // 6to4 carries a v4 address in bytes 2...5
            if let inner = IPAddress(bytes: Array(b[2..<6])), let reason = refusal(inner) {
                return "\(reason) (inside 6to4 \(address))"
            }
        }
        return nil
    }

    /// Every address a host name resolves to (or the literal itself).
    public static func resolve(_ host: String) throws -> [IPAddress] {
        if let literal = IPAddress(literal: host) { return [literal] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &result)
        guard status == 0, let first = result else {
            throw SandboxError(reason: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if info.pointee.ai_family == AF_INET, let raw = info.pointee.ai_addr {
                let v4 = raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                if let address = IPAddress(bytes: withUnsafeBytes(of: v4) { Array($0) }) { addresses.append(address) }
            } else if info.pointee.ai_family == AF_INET6, let raw = info.pointee.ai_addr {
                let v6 = raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                if let address = IPAddress(bytes: withUnsafeBytes(of: v6) { Array($0) }) { addresses.append(address) }
            }
            cursor = info.pointee.ai_next
        }
        var unique: [IPAddress] = []
        for address in addresses where !unique.contains(address) { unique.append(address) }
        return unique
    }
}

/// Where an agent (or a command it runs) may connect: hosts it may name (deny by default) and private addresses
/// it may reach anyway. `http_fetch`, MCP and A2A clients, plugins and the egress proxy all judge by it.
public struct EgressPolicy: Hashable, Sendable {
    /// Host names, or `*.domain` patterns.
    public var allowedHosts: [String]
    /// IP literals that may be reached although they are private or loopback (a local service the operator trusts).
    public var allowedPrivateAddresses: [String]

    public init(allowedHosts: [String] = [], allowedPrivateAddresses: [String] = []) {
        self.allowedHosts = allowedHosts
        self.allowedPrivateAddresses = allowedPrivateAddresses
    }

    public func allows(host: String) -> Bool {
        let host = host.lowercased()
        return allowedHosts.contains { pattern in
            let pattern = pattern.lowercased()
            if pattern.hasPrefix("*.") { return host.hasSuffix(pattern.dropFirst(1)) }
            return host == pattern
        }
    }

    /// The one address a connection to `host` (a name or a literal, without brackets) may go to, or why not.
    ///
    /// The host must be on the allowlist; it is resolved once and every address it resolves to is checked (a
    /// host that resolves to one public and one private address is refused); the caller connects to the returned
    /// address only, so a second DNS answer cannot point it elsewhere. Blocking (it resolves).
    public func address(for host: String) throws -> IPAddress {
        guard allows(host: host) else {
            throw SandboxError(reason: "'\(host)' is not on this agent's network allowlist")
        }
        let addresses = try AddressGuard.resolve(host)
        guard let first = addresses.first else { throw SandboxError(reason: "'\(host)' has no address") }
        for address in addresses {
            if let reason = AddressGuard.refusal(address),
                !allowedPrivateAddresses.contains(where: { IPAddress(literal: $0) == address })
            {
                throw SandboxError(reason: "refused to connect to \(host): \(reason)")
            }
        }
        return first
    }
}
