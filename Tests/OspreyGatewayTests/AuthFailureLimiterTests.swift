import Testing

@testable import OspreyGateway

/// The bad-token limiter under a spray of source addresses.
struct AuthFailureLimiterTests {
    @Test func addressesWhoseFailuresHaveAgedOutAreForgottenAndLockoutsAreKept() {
        let limiter = AuthFailureLimiter(maxFailures: 3, window: 60, lockout: 300)
        // One address locked out, then 30,000 others with one failure each
        for _ in 0..<3 { _ = limiter.fail(address: "192.0.2.1", now: 0) }
        for index in 0..<30_000 {
            _ = limiter.fail(address: "10.\(index / 256 / 256).\(index / 256 % 256).\(index % 256)", now: 1)
        }
        #expect(limiter.tracked <= 30_001)
        // A minute and more later their failures count no more: the next sweep forgets them (before: a window
        // with a stale failure was kept, so the table grew with every new address and was filtered, whole, at
        // every failure past 10,000), and keeps the lockout that still runs
        for index in 0..<20_000 { _ = limiter.fail(address: "172.16.\(index / 256).\(index % 256)", now: 100) }
        #expect(limiter.tracked < 25_000, "\(limiter.tracked) addresses kept")
        #expect(limiter.retryAfter(address: "192.0.2.1", now: 100) == 200)
    }
}
