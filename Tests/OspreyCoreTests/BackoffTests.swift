import OspreyCore
import Testing

struct BackoffTests {
    /// The first pause after one failure (or none), doubled after each further one, never past the longest.
    @Test func pausesDoubleFromTheFirstUpToTheLongest() {
        let reconnect = Backoff.upToHalfAMinute
        #expect((0...8).map { reconnect.delay(after: $0) } == [1, 1, 2, 4, 8, 16, 30, 30, 30].map { .seconds($0) })
        let storage = Backoff(first: .seconds(5), longest: .seconds(300))
        #expect(
            [1, 2, 3, 6, 7, 1_000].map { storage.delay(after: $0) } == [5, 10, 20, 160, 300, 300].map { .seconds($0) }
        )
        let quick = Backoff(first: .milliseconds(250), longest: .seconds(2))
        #expect((1...5).map { quick.delay(after: $0) } == [250, 500, 1000, 2000, 2000].map { .milliseconds($0) })
    }
}
