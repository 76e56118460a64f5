import NIOCore
import Testing

@testable import OspreyGateway

/// What a client address counts as for `gateway.max_connections_per_address`.
struct AddressQuotaTests {
    func key(_ address: String) throws -> String? {
        AddressQuota.key(try SocketAddress(ipAddress: address, port: 40_000))
    }

    @Test func anIPv6ClientCountsByItsSixtyFourAndAMappedIPv4ClientAsItsIPv4Address() throws {
        // Every address of one /64 is one client: a host picks from all of them
        #expect(try key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        #expect(try key("2001:db8:1:2::1") == "2001:db8:1:2::/64")
        #expect(try key("2001:db8:1:3::1") != key("2001:db8:1:2::1"))
        // A dual-stack socket's IPv4 client is its IPv4 address, on either stack
        #expect(try key("::ffff:192.0.2.7") == "192.0.2.7")
        #expect(try key("192.0.2.7") == "192.0.2.7")
        #expect(try key("192.0.2.8") != key("192.0.2.7"))
        // A Unix socket's peer is not limited by address
        #expect(AddressQuota.key(try SocketAddress(unixDomainSocketPath: "/tmp/x.sock")) == nil)
    }

    @Test func theBadTokenLimitCountsAnIPv6ClientByItsSixtyFour() throws {
        let one = try SocketAddress(ipAddress: "2001:db8:1:2::1", port: 40_000)
        let other = try SocketAddress(ipAddress: "2001:db8:1:2::2:3", port: 40_001)
        // The limiter locks out what `client` names: both addresses are one client, each still logged as itself
        #expect(Gatekeeper.client(one) == Gatekeeper.client(other))
        #expect(Gatekeeper.address(one) != Gatekeeper.address(other))
        let limiter = AuthFailureLimiter(maxFailures: 2, window: 60, lockout: 300)
        #expect(!limiter.fail(address: Gatekeeper.client(one), now: 0))
        #expect(limiter.fail(address: Gatekeeper.client(other), now: 1))
        #expect(
            limiter.retryAfter(
                address: Gatekeeper.client(try SocketAddress(ipAddress: "2001:db8:1:2::9", port: 1)),
                now: 2
            ) != nil
        )
    }
}
