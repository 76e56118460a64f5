import OspreyCore

/// The token counts a provider reports, checked before anything adds them up.
///
/// A count is a whole number from 0 to ``maxTokens``; anything else (negative, fractional, a string, 2⁶³ − 1) is not
/// a count of this call's tokens but a broken or hostile server, and fails the call as an invalid response: summed
/// into a run's total, a day's spending and the ledger's aggregates, such a value overflowed them and stopped the
/// gateway at every later read of that day.
enum ReportedUsage {
    /// More than any model's context and reply together, by far.
    static let maxTokens = 100_000_000

    /// The count in `value` (0 when absent or null).
    static func tokens(_ value: JSONValue?, field: String, provider: String) throws -> Int {
        guard let value, value != .null else { return 0 }
        guard let count = value.intValue, (0...maxTokens).contains(count) else {
            throw ProviderError.invalidResponse(
                provider: provider,
                message: "its usage reports \(field) = \(value.canonicalJSON.prefix(40)), not a token count from 0 to "
                    + "\(maxTokens)"
            )
        }
        return count
    }
}
