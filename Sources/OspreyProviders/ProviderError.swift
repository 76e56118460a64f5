public import OspreyCore

/// Why a model call failed, classified for the router: what may be retried, what must not.
public enum ProviderError: Error, Hashable, Sendable, CustomStringConvertible {
    /// 401/403/404 or a refused request: a configuration problem (key, model name). Never retried.
    case configuration(provider: String, status: Int, message: String)
    /// 429: retried after `retryAfter` seconds (when the provider said), else with backoff.
    case rateLimited(provider: String, retryAfter: Double?, message: String)
    /// 5xx or an error event in the stream: retried with backoff.
    case server(provider: String, status: Int, message: String)
    /// Connection refused, reset or timed out: retried with backoff.
    case transport(provider: String, message: String)
    /// The provider stayed silent longer than its timeout (before its answer began, or within it): not retried on
    /// the same provider, whose next attempt would likely wait as long; the router goes on to the next route.
    case timedOut(provider: String, seconds: Int)
    /// The stream ended before the reply was complete. `usage` is what the provider reported before the cut.
    case streamCut(provider: String, usage: Usage?, emittedOutput: Bool)
    /// The provider answered something that is not its documented format.
    case invalidResponse(provider: String, message: String)
    /// The provider's circuit breaker is open: not called at all.
    case circuitOpen(provider: String)
    /// Every route in the chain failed; the last error is kept.
    case exhausted(attempts: Int, last: String)

    /// True when another attempt at the same provider may succeed.
    public var isRetryable: Bool {
        switch self {
        case .rateLimited, .server, .transport: true
        case .streamCut(_, _, let emitted): !emitted
        default: false
        }
    }

    /// The `outcome` recorded in `llm.call` events.
    public var outcome: Event.CallOutcome {
        switch self {
        case .configuration: .configError
        case .rateLimited: .rateLimited
        case .server: .serverError
        case .transport: .transportError
        case .timedOut: .timeout
        case .streamCut: .streamCut
        case .invalidResponse: .invalidResponse
        case .circuitOpen: .circuitOpen
        case .exhausted: .exhausted
        }
    }

    public var description: String {
        switch self {
        case .configuration(let provider, let status, let message):
            "provider '\(provider)' refused the request (HTTP \(status)): \(message). Check its api_key, base_url and model in config.toml."
        case .rateLimited(let provider, let retryAfter, let message):
            "provider '\(provider)' is rate limiting (429\(retryAfter.map { ", retry after \(Int($0))s" } ?? "")): \(message)"
        case .server(let provider, let status, let message):
            "provider '\(provider)' failed (HTTP \(status)): \(message)"
        case .transport(let provider, let message): "cannot reach provider '\(provider)': \(message)"
        case .timedOut(let provider, let seconds):
            "provider '\(provider)' did not answer within \(seconds) s (its timeout_seconds in config.toml)"
        case .streamCut(let provider, _, _): "provider '\(provider)' cut the stream before the reply was complete"
        case .invalidResponse(let provider, let message): "provider '\(provider)' sent an invalid response: \(message)"
        case .circuitOpen(let provider): "provider '\(provider)' is failing; its circuit breaker is open"
        case .exhausted(let attempts, let last):
            "all model routes failed after \(attempts) attempts; last error: \(last)"
        }
    }
}
