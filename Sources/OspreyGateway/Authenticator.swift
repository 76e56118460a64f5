import Crypto
import Foundation
import OspreyCore
import OspreyStore
import Synchronization

/// Checks bearer tokens against the active tokens, in constant time, from a cache refreshed on every change.
final class Authenticator: Sendable {
    private let tokens: Tokens
    private let cache = Mutex<[TokenRecord]>([])
    /// WebSocket tickets: each stands for the token that asked for it, until used or expired.
    private let tickets = Mutex<[String: (token: TokenRecord.ID, expires: Date)]>([:])

    /// How long a WebSocket ticket stays valid.
    static let ticketSeconds = 30.0

    init(tokens: Tokens) { self.tokens = tokens }

    /// Reloads the active tokens; called at start and after every create or revoke.
    func refresh() async throws {
        let active = try await tokens.active()
        cache.withLock { $0 = active }
    }

    /// Whether `token` is still active (not revoked since the cache was loaded, not expired).
    func isActive(_ token: TokenRecord, now: Date = Date()) -> Bool {
        if let expiry = token.expiresAt, expiry <= now { return false }
        return cache.withLock { $0.contains { $0.id == token.id } }
    }

    /// Returns true once `token` is revoked or expires; false if the bus closes first or the caller is cancelled.
    ///
    /// Every long-lived stream (WebSocket, SSE) races its work against this, so a revoked token stops at once.
    func waitUntilEnded(_ token: TokenRecord, bus: EventBus) async -> Bool {
        // Subscribed before the check, so a revocation in between is not missed; only revocations wake it.
        let revocations = bus.subscribe(where: { $0.type == .tokenRevoked })
        if !isActive(token) { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await event in revocations
                where event.type == .tokenRevoked && event.payload["token_id"]?.stringValue == token.id.rawValue {
                    return true
                }
                return false
            }
            if let expiry = token.expiresAt {
                group.addTask {
                    do {
                        try await Task.sleep(for: .milliseconds(max(0, Int64(expiry.timeIntervalSinceNow * 1000))))
                        return true
                    } catch { return false }
                }
            }
            let ended = await group.next() ?? false
            group.cancelAll()
            return ended
        }
    }

    /// A single-use ticket for one WebSocket upgrade (browsers cannot set `Authorization` on one), standing for
    /// `token` with its role and scopes for ``ticketSeconds``.
    func issueTicket(for token: TokenRecord, now: Date = Date()) -> String {
        let ticket = "wst_" + Home.randomHex(bytes: 24)
        tickets.withLock { tickets in
            tickets = tickets.filter { $0.value.expires > now }
            tickets[ticket] = (token.id, now.addingTimeInterval(Self.ticketSeconds))
        }
        return ticket
    }

    /// The token a ticket stands for, if it is unexpired and its token still active; `consume` uses it up (the
    /// upgrade itself), else it is only looked at (the connection's edge, before the upgrade is read).
    func redeem(ticket: String, consume: Bool, now: Date = Date()) -> TokenRecord? {
        let entry = tickets.withLock { tickets in consume ? tickets.removeValue(forKey: ticket) : tickets[ticket] }
        guard let entry, entry.expires > now else { return nil }
        let record = cache.withLock { $0.first { $0.id == entry.token } }
        guard let record, isActive(record, now: now) else { return nil }
        return record
    }

    /// The token record for `presented`, or nil. Every active digest is compared, with no early exit; an expired
    /// token is refused like a revoked one.
    func authenticate(_ presented: String, now: Date = Date()) -> TokenRecord? {
        let computed = Array(SHA256.hash(data: Array(presented.utf8)).hexString.utf8)
        let candidates = cache.withLock { $0 }
        var match: TokenRecord?
        for record in candidates {
            var difference: UInt8 = record.digest.utf8.count == computed.count ? 0 : 1
            for (index, byte) in record.digest.utf8.prefix(computed.count).enumerated() {
                difference |= byte ^ computed[index]
            }
            if difference == 0 { match = record }
        }
        if let expiry = match?.expiresAt, expiry <= now { return nil }
        return match
    }
}
