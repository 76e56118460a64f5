/// A set of small non-negative integers (cron field values, all below 64) as a bit mask.
struct ValueSet: Hashable, Sendable {
    private(set) var bits: UInt64 = 0

    func contains(_ value: Int) -> Bool {
        bits & (1 << UInt64(value)) != 0
    }

    mutating func insert(_ value: Int) {
        bits |= 1 << UInt64(value)
    }

    mutating func remove(_ value: Int) {
        bits &= ~(1 << UInt64(value))
    }

    /// The members in ascending order.
    var values: [Int] {
        var remaining = bits
        var result: [Int] = []
        while remaining != 0 {
            result.append(remaining.trailingZeroBitCount)
            remaining &= remaining - 1
        }
        return result
    }
}
