import NIOCore
import Synchronization

/// The connections each client address holds open, and the most it may (`gateway.max_connections_per_address`).
///
/// Without it one address could take every connection the gateway serves (`max_connections`) before sending a
/// byte: each waits out the header timeout, is closed, and is opened again, and no one else gets in. Past the limit
/// a new connection is answered 429 `too_many_connections` and closed before anything of it is read. IPv6 clients
/// count by their /64 (one host has a whole /64 to pick addresses from); an IPv4-mapped IPv6 address counts as its
/// IPv4 address. Loopback counts like any address: behind a reverse proxy every client is the proxy's address, and
/// the limit must be raised (or set to 0, no limit) for as many clients as the proxy carries.
final class AddressQuota: Sendable {
    /// 0: no limit.
    let limit: Int
    private let open = Mutex<[String: Entry]>([:])

    struct Entry {
        var count = 0
        /// Whether a refusal was reported since the address was last below its limit.
        var reported = false
    }

    enum Verdict {
        /// Let in; the connection gives its place back when it closes.
        case admitted
        /// Refused; `first` for the first refusal since the address was last below its limit (the one to log).
        case refused(first: Bool)
    }

    init(limit: Int) { self.limit = limit }

    /// Takes one of the address's connections for `channel` (given back when it closes), or refuses.
    func admit(_ channel: any Channel) -> Verdict {
        guard limit > 0, let key = channel.remoteAddress.flatMap(Self.key) else { return .admitted }
        let verdict = open.withLock { open -> Verdict in
            var entry = open[key, default: Entry()]
            defer { open[key] = entry }
            guard entry.count < limit else {
                defer { entry.reported = true }
                return .refused(first: !entry.reported)
            }
            entry.count += 1
            return .admitted
        }
        if case .admitted = verdict {
            channel.closeFuture.whenComplete { _ in self.giveBack(key) }
        }
        return verdict
    }

    private func giveBack(_ key: String) {
        open.withLock { open in
            guard var entry = open[key] else { return }
            entry.count -= 1
            if entry.count <= 0 {
                open[key] = nil
            } else {
                entry.reported = false
                open[key] = entry
            }
        }
    }

    /// What an address counts as: the IPv4 address, or the /64 of an IPv6 one; nil for a Unix socket.
    static func key(_ address: SocketAddress) -> String? {
        switch address {
        case .v4:
            return address.ipAddress
        case .v6(let v6):
            // sockaddr_in6: family (2 bytes), port (2), flow information (4), then the 16 bytes of the address.
            let bytes = withUnsafeBytes(of: v6.address) { Array($0[8..<24]) }
            // ::ffff:a.b.c.d is the IPv4 client a dual-stack socket accepted.
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                return bytes[12..<16].map(String.init).joined(separator: ".")
            }
            let groups = stride(from: 0, to: 8, by: 2).map {
                String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
            }
            return groups.joined(separator: ":") + "::/64"
        case .unixDomainSocket:
            return nil
        }
    }
}
