import Foundation
import Synchronization

/// Counts bad tokens per client address and locks an address out after too many (loopback included).
///
/// The decision logic is a pure value (``Window``); this class only guards it with a lock.
final class AuthFailureLimiter: Sendable {
    /// One address's recent failures and lockout, with no I/O.
    struct Window: Hashable, Sendable {
        var failures: [Double] = []
        var lockedUntil: Double?

        /// Seconds still to wait, or nil when the address may try again.
        func retryAfter(now: Double) -> Double? {
            guard let lockedUntil, lockedUntil > now else { return nil }
            return lockedUntil - now
        }

        /// Records a failure; returns true when this failure starts a lockout.
        mutating func fail(now: Double, maxFailures: Int, window: Double, lockout: Double) -> Bool {
            failures = failures.filter { now - $0 < window }
            failures.append(now)
            guard failures.count >= maxFailures else { return false }
            failures.removeAll()
            lockedUntil = now + lockout
            return true
        }
    }

    /// The windows by address, and the size at which they are next swept of addresses with nothing left to count.
    private let windows = Mutex<(byAddress: [String: Window], sweepAt: Int)>(([:], smallestSweep))
    static let smallestSweep = 10_000
    let maxFailures: Int
    let window: Double
    let lockout: Double

    init(maxFailures: Int, window: Double, lockout: Double) {
        self.maxFailures = maxFailures
        self.window = window
        self.lockout = lockout
    }

    func retryAfter(address: String, now: Double = Date().timeIntervalSince1970) -> Double? {
        windows.withLock { $0.byAddress[address]?.retryAfter(now: now) }
    }

    /// How many addresses have a window.
    var tracked: Int { windows.withLock { $0.byAddress.count } }

    /// Records a failure; returns true when the address is now locked out.
    func fail(address: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        windows.withLock { windows in
            if windows.byAddress.count >= windows.sweepAt {
                // Bounded memory under a spray of source addresses: forget the windows with no lockout running and
                // no failure left in the window (each is swept once the table has doubled: O(1) a failure).
                windows.byAddress = windows.byAddress.filter { _, kept in
                    kept.retryAfter(now: now) != nil || kept.failures.contains { now - $0 < window }
                }
                windows.sweepAt = max(Self.smallestSweep, windows.byAddress.count * 2)
            }
            return windows.byAddress[address, default: Window()].fail(
                now: now,
                maxFailures: maxFailures,
                window: window,
                lockout: lockout
            )
        }
    }
}
