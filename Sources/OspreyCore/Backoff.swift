/// The pauses of a back-off: `first` after one failure, doubled after each further failure in a row, at most
/// `longest`. One rule for every loop that retries (chat reconnects, scheduler passes, tasks the store refused, MCP
/// server restarts), each with its own first and longest pause.
public struct Backoff: Hashable, Sendable {
    public var first: Duration
    public var longest: Duration

    public init(first: Duration, longest: Duration) {
        self.first = first
        self.longest = longest
    }

    /// The pause after `failures` failures in a row (fewer than one counts as one).
    public func delay(after failures: Int) -> Duration {
        min(longest, first * (1 << min(max(failures, 1) - 1, 30)))
    }

    /// 1 s, 2 s, 4 s, … up to 30 s.
    public static let upToHalfAMinute = Backoff(first: .seconds(1), longest: .seconds(30))
}
