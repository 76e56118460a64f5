import Testing

@testable import OspreyChannels

/// Each sender's messages of the last minute, under a spray of new senders.
struct SenderRatesTests {
    @Test func aSenderIsHeldToItsMinuteAndSendersWithNothingInTheLastMinuteAreForgotten() {
        let rates = SenderRates()
        let start = ContinuousClock.now
        // A sender's first two messages of a minute pass, the third is the burst's one refusal said, the fourth not
        #expect(rates.admit("t/alice", limit: 2, now: start) == .admitted)
        #expect(rates.admit("t/alice", limit: 2, now: start) == .admitted)
        #expect(rates.admit("t/alice", limit: 2, now: start) == .refused(first: true))
        #expect(rates.admit("t/alice", limit: 2, now: start) == .refused(first: false))
        #expect(rates.admit("t/alice", limit: 2, now: start + .seconds(61)) == .admitted)
        // 10,000 strangers, one message each (a pairing request is answered once, but each is counted)
        for index in 0..<10_000 { _ = rates.admit("t/stranger-\(index)", limit: 2, now: start + .seconds(61)) }
        // Two minutes on, new senders sweep them out (before: every sender ever seen stayed in the table)
        for index in 0..<10_000 { _ = rates.admit("t/other-\(index)", limit: 2, now: start + .seconds(200)) }
        #expect(rates.tracked < 15_000, "\(rates.tracked) senders kept")
        #expect(rates.admit("t/other-1", limit: 1, now: start + .seconds(200)) == .refused(first: true))
    }
}
