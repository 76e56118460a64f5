public import OspreyCore

/// A provider's health, with no I/O: closed (calls go through), open (calls refused until a cooldown passes),
/// half-open (one probe call decides).
public struct CircuitBreaker: Hashable, Sendable {
    public enum State: Hashable, Sendable {
        case closed(failures: Int)
        case open(until: Double)
        case halfOpen
    }

    public private(set) var state: State = .closed(failures: 0)
    public let failureThreshold: Int
    /// Seconds the breaker stays open before it lets a probe through.
    public let cooldown: Double

    public init(failureThreshold: Int = 5, cooldown: Double = 30) {
        self.failureThreshold = failureThreshold
        self.cooldown = cooldown
    }

    /// Whether a call may go out at `now` (seconds); moves open → half-open when the cooldown has passed.
    public mutating func allowsCall(now: Double) -> Bool {
        switch state {
        case .closed: return true
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen
            return true
        case .halfOpen:
            return false  // a probe is already out
        }
    }

    public mutating func recordSuccess() { state = .closed(failures: 0) }

    public mutating func recordFailure(now: Double) {
        switch state {
        case .closed(let failures):
            state = failures + 1 >= failureThreshold ? .open(until: now + cooldown) : .closed(failures: failures + 1)
        case .halfOpen, .open:
            state = .open(until: now + cooldown)
        }
    }

    /// `closed`, `open` or `half_open`, as `osprey models` shows it.
    public var name: String {
        switch state {
        case .closed: "closed"
        case .open: "open"
        case .halfOpen: "half_open"
        }
    }
}

/// How long to wait before attempt `n` (0-based) of a retryable failure: exponential with full jitter,
/// or what the provider asked for in `Retry-After`, capped.
public struct RetryPolicy: Hashable, Sendable {
    public var maxAttempts: Int
    public var baseDelay: Double
    public var maxDelay: Double

    public init(maxAttempts: Int = 3, baseDelay: Double = 0.5, maxDelay: Double = 30) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The delay in seconds before the next attempt; `random` is in 0..<1 (injected for tests).
    public func delay(afterAttempt attempt: Int, error: ProviderError, random: Double) -> Double {
        if case .rateLimited(_, let retryAfter?, _) = error { return min(retryAfter, maxDelay) }
        let ceiling = min(maxDelay, baseDelay * Double(1 << min(attempt, 16)))
        return ceiling * (0.5 + random / 2)
    }
}

/// Price of a model in USD per million tokens.
public struct Pricing: Hashable, Sendable {
    public var inputPerMillion: Double
    public var outputPerMillion: Double

    public init(inputPerMillion: Double, outputPerMillion: Double) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
    }

    public func cost(_ usage: Usage) -> Double {
        let input = Double(usage.inputTokens) * inputPerMillion
        let output = Double(usage.outputTokens) * outputPerMillion
        return (input + output) / 1_000_000
    }
}
