import HTTPTypes
import OspreyCore
import OspreyStore
import Synchronization

/// The long-lived streams each token holds open (event streams, WebSockets, MCP GET streams), and the most it may
/// (`gateway.max_streams_per_token`). Past that its next stream is refused with 429, so one token (a read-only
/// stream token handed to a monitor, a client reconnecting in a loop without closing) cannot take every connection
/// the gateway serves and lock its admin out.
final class StreamQuota: Sendable {
    let limit: Int
    private let open = Mutex<[String: Int]>([:])

    init(limit: Int) { self.limit = limit }

    /// Takes one of `token`'s streams, or refuses with 429; the hold gives it back when released or dropped.
    func take(_ token: TokenRecord?) throws(APIError) -> Hold {
        let key = token?.id.rawValue ?? ""
        let taken = open.withLock { open in
            guard open[key, default: 0] < limit else { return false }
            open[key, default: 0] += 1
            return true
        }
        guard taken else {
            throw APIError(
                .tooManyRequests,
                "too_many_streams",
                "This token already holds \(limit) open streams (event streams, WebSockets, MCP streams), the most "
                    + "one token may (gateway.max_streams_per_token); close one first."
            )
        }
        return Hold(quota: self, key: key)
    }

    fileprivate func give(back key: String) {
        open.withLock { open in
            let left = (open[key] ?? 1) - 1
            open[key] = left > 0 ? left : nil
        }
    }

    /// One stream taken: given back once, by ``release()`` or when the last reference to it goes (a response whose
    /// body never ran, a connection closed).
    final class Hold: Sendable {
        private let quota: StreamQuota
        private let key: String
        private let released = Atomic(false)

        fileprivate init(quota: StreamQuota, key: String) {
            self.quota = quota
            self.key = key
        }

        func release() {
            guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
            quota.give(back: key)
        }

        deinit { release() }
    }
}
