import Foundation
public import OspreyCore
import Synchronization

/// A provider and model to call, as `provider/model` in config.
public struct ModelRoute: Hashable, Sendable, CustomStringConvertible {
    public var provider: String
    public var model: String

    public init(provider: String, model: String) {
        self.provider = provider
        self.model = model
    }

    /// Parses `provider/model` (the model part may itself contain slashes).
    public init?(_ text: String) {
        guard let slash = text.firstIndex(of: "/"), slash != text.startIndex, text.index(after: slash) != text.endIndex
        else {
            return nil
        }
        provider = String(text[..<slash])
        model = String(text[text.index(after: slash)...])
    }

    public var description: String { "\(provider)/\(model)" }
}

/// One attempt at one provider, reported for the `llm.call` event.
public struct CallAttempt: Hashable, Sendable {
    public var route: ModelRoute
    public var usage: Usage
    public var durationMS: Int
    /// Milliseconds to the first streamed event, when the provider streamed one.
    public var firstTokenMS: Int?
    /// `ok`, or the failure's ``ProviderError/outcome``.
    public var outcome: Event.CallOutcome
    public var error: String?
    /// The usage is an estimate (a call cut before the provider said what it used), not the provider's count.
    public var usageEstimated = false
}

/// Sends a request down a chain of routes: per-provider circuit breakers, retries with backoff and
/// `Retry-After`, fallback to the next route. A stream that already reached the client is never replayed.
public final class Router: Sendable {
    private let providers: [String: any ModelProvider]
    private let breakers: Mutex<[String: CircuitBreaker]>
    private let policy: RetryPolicy
    private let breakerTemplate: CircuitBreaker
    private let sleep: @Sendable (Double) async throws -> Void

    public init(
        providers: [String: any ModelProvider],
        policy: RetryPolicy = RetryPolicy(),
        breaker: CircuitBreaker = CircuitBreaker(),
        sleep: @escaping @Sendable (Double) async throws -> Void = { try await Task.sleep(for: .seconds($0)) }
    ) {
        self.providers = providers
        self.policy = policy
        self.breakerTemplate = breaker
        self.breakers = Mutex([:])
        self.sleep = sleep
    }

    /// Names of the configured providers.
    public var providerNames: [String] { providers.keys.sorted() }

    /// Each provider's breaker state (`closed`, `open`, `half_open`).
    public func breakerStates() -> [String: String] {
        let states = breakers.withLock { $0 }
        return Dictionary(uniqueKeysWithValues: providers.keys.map { ($0, states[$0]?.name ?? "closed") })
    }

    /// Calls the first route that answers. `onAttempt` hears of every attempt, good or bad, as it ends.
    public func respond(
        to request: ModelRequest,
        routes: [ModelRoute],
        onEvent: (ModelEvent) async throws -> Void,
        onAttempt: (CallAttempt) async throws -> Void
    ) async throws -> (ModelReply, ModelRoute) {
        var attempts = 0
        var lastError: ProviderError?
        for route in routes {
            guard let provider = providers[route.provider] else {
                lastError = .configuration(
                    provider: route.provider,
                    status: 0,
                    message: "no provider named '\(route.provider)' in config.toml"
                )
                continue
            }
            for attempt in 0..<max(1, policy.maxAttempts) {
                let now = Date().timeIntervalSince1970
                let allowed = breakers.withLock { $0[route.provider, default: breakerTemplate].allowsCall(now: now) }
                guard allowed else {
                    let error = ProviderError.circuitOpen(provider: route.provider)
                    try await onAttempt(
                        CallAttempt(
                            route: route,
                            usage: Usage(),
                            durationMS: 0,
                            outcome: error.outcome,
                            error: error.description
                        )
                    )
                    lastError = error
                    break
                }
                attempts += 1
                var routed = request
                routed.model = route.model
                var emitted = false
                // What the caller's own handling of the stream threw: the call is cut on our side, not failed.
                var refused: (any Error)?
                let clock = ContinuousClock()
                let start = clock.now
                var firstEvent: ContinuousClock.Instant?
                do {
                    let reply = try await provider.respond(to: routed) { event in
                        emitted = true
                        if firstEvent == nil { firstEvent = clock.now }
                        do {
                            try await onEvent(event)
                        } catch {
                            refused = error
                            throw error
                        }
                    }
                    breakers.withLock { $0[route.provider, default: breakerTemplate].recordSuccess() }
                    try await onAttempt(
                        CallAttempt(
                            route: route,
                            usage: reply.usage,
                            durationMS: Self.ms(clock.now - start),
                            firstTokenMS: firstEvent.map { Self.ms($0 - start) },
                            outcome: .ok,
                            error: nil
                        )
                    )
                    return (reply, route)
                } catch let cause where cause is CancellationError || refused != nil {
                    // Cut on our side (the run cancelled or stopped, or the caller could not take what streamed): no
                    // failure of the provider's, but a call made and maybe billed, so it is reported before the run
                    // ends with the cut's own cause.
                    let cut = CallAttempt(
                        route: route,
                        usage: Usage(),
                        durationMS: Self.ms(clock.now - start),
                        firstTokenMS: firstEvent.map { Self.ms($0 - start) },
                        outcome: .cancelled,
                        error: "\(refused ?? cause)"
                    )
                    do { try await onAttempt(cut) } catch { throw refused ?? cause }
                    throw refused ?? cause
                } catch {
                    var failure = error as? ProviderError ?? .transport(provider: route.provider, message: "\(error)")
                    if case .streamCut(let name, let usage, _) = failure, emitted {
                        failure = .streamCut(provider: name, usage: usage, emittedOutput: true)
                    }
                    var usage = Usage()
                    if case .streamCut(_, let reported?, _) = failure { usage = reported }
                    let failedAt = Date().timeIntervalSince1970
                    breakers.withLock { $0[route.provider, default: breakerTemplate].recordFailure(now: failedAt) }
                    try await onAttempt(
                        CallAttempt(
                            route: route,
                            usage: usage,
                            durationMS: Self.ms(clock.now - start),
                            outcome: failure.outcome,
                            error: failure.description
                        )
                    )
                    lastError = failure
                    // Output already streamed to the client cannot be taken back: no retry, no fallback.
                    if emitted { throw failure }
                    guard failure.isRetryable, attempt + 1 < policy.maxAttempts else { break }
                    try await sleep(
                        policy.delay(afterAttempt: attempt, error: failure, random: Double.random(in: 0..<1))
                    )
                }
            }
        }
        if let lastError, routes.count == 1 || attempts <= 1 { throw lastError }
        throw ProviderError.exhausted(attempts: attempts, last: lastError?.description ?? "no routes")
    }

    static func ms(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
