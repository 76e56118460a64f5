import Crypto
import Foundation
import OspreyCore
import OspreyStore
import Synchronization

/// Checks bearer tokens against the active tokens, in constant time, from a cache refreshed on every change.
final class Authenticator: Sendable {
    private let tokens: Tokens
    private let cache = Mutex<[TokenRecord]>([])

    init(tokens: Tokens) { self.tokens = tokens }

    /// Reloads the active tokens; called at start and after every create or revoke.
    func refresh() async throws {
        let active = try await tokens.active()
        cache.withLock { $0 = active }
    }

    /// The token record for `presented`, or nil. Every active digest is compared, with no early exit.
    func authenticate(_ presented: String) -> TokenRecord? {
        let digest = Array(SHA256.hash(data: Data(presented.utf8)))
        let candidates = cache.withLock { $0 }
        var match: TokenRecord?
        for record in candidates {
            let stored = Array(record.digest.utf8)
            let computed = Array(digest.hexString.utf8)
            var difference: UInt8 = stored.count == computed.count ? 0 : 1
            for index in 0..<min(stored.count, computed.count) { difference |= stored[index] ^ computed[index] }
            if difference == 0 { match = record }
        }
        return match
    }
}
