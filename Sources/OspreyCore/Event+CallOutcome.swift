extension Event {
    /// How one model call attempt went, as recorded in an `llm.call` event's `outcome`: `ok` or the failure's name.
    public struct CallOutcome: StringVocabulary {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The provider answered.
        public static let ok = CallOutcome(rawValue: "ok")
        /// The provider refused the request as misconfigured (bad key, URL or model).
        public static let configError = CallOutcome(rawValue: "config_error")
        /// The provider answered 429.
        public static let rateLimited = CallOutcome(rawValue: "rate_limited")
        /// The provider answered with a server error.
        public static let serverError = CallOutcome(rawValue: "server_error")
        /// The provider could not be reached.
        public static let transportError = CallOutcome(rawValue: "transport_error")
        /// The provider stayed silent past its `timeout_seconds`.
        public static let timeout = CallOutcome(rawValue: "timeout")
        /// The provider cut the stream before the reply was complete.
        public static let streamCut = CallOutcome(rawValue: "stream_cut")
        /// The provider sent a response that could not be read.
        public static let invalidResponse = CallOutcome(rawValue: "invalid_response")
        /// The provider's circuit breaker was open, so no call was made.
        public static let circuitOpen = CallOutcome(rawValue: "circuit_open")
        /// Every route failed.
        public static let exhausted = CallOutcome(rawValue: "exhausted")
        /// The call was cut on Osprey's side before its answer was complete (the run was cancelled or stopped, or
        /// what it streamed could not be taken): it was made, and may be billed.
        public static let cancelled = CallOutcome(rawValue: "cancelled")
    }

    /// The outcome of an `llm.call` event; nil for any other kind, or when the payload carries none.
    public var callOutcome: CallOutcome? {
        guard type == .llmCall, let outcome = payload["outcome"]?.stringValue else { return nil }
        return CallOutcome(rawValue: outcome)
    }
}
