import Foundation
import Testing

@testable import OspreyScheduler

/// One row of the downtime table: a schedule, when it last fired, when the scheduler came back, and the outcome.
struct DowntimeCase: Sendable, CustomTestStringConvertible {
    let spec: String
    let lastFire: String
    let now: String
    let firstMissed: String?
    let nextFire: String?

    var testDescription: String { "'\(spec)' last fired \(lastFire), resumed \(now)" }
}

let downtimeCases: [DowntimeCase] = [
    // Three hourly fires missed: one catch-up, then the next hour.
    DowntimeCase(
        spec: "0 * * * *",
        lastFire: "2026-03-02T10:00:00Z",
        now: "2026-03-02T13:30:00Z",
        firstMissed: "2026-03-02T11:00:00Z",
        nextFire: "2026-03-02T14:00:00Z"
    ),
    // Down for less than a period: nothing missed.
    DowntimeCase(
        spec: "0 * * * *",
        lastFire: "2026-03-02T10:00:00Z",
        now: "2026-03-02T10:59:59Z",
        firstMissed: nil,
        nextFire: "2026-03-02T11:00:00Z"
    ),
    // A fire due exactly now is already late.
    DowntimeCase(
        spec: "0 * * * *",
        lastFire: "2026-03-02T10:00:00Z",
        now: "2026-03-02T11:00:00Z",
        firstMissed: "2026-03-02T11:00:00Z",
        nextFire: "2026-03-02T12:00:00Z"
    ),
    // Intervals restart from now.
    DowntimeCase(
        spec: "@every 10m",
        lastFire: "2026-03-02T10:00:00Z",
        now: "2026-03-02T10:35:00Z",
        firstMissed: "2026-03-02T10:10:00Z",
        nextFire: "2026-03-02T10:45:00Z"
    ),
    DowntimeCase(
        spec: "@every 1h",
        lastFire: "2026-03-02T10:00:00Z",
        now: "2026-03-02T10:30:00Z",
        firstMissed: nil,
        nextFire: "2026-03-02T11:30:00Z"
    ),
    // A one-shot that came due while down, and one that already ran.
    DowntimeCase(
        spec: "@at 2026-03-02T12:00:00Z",
        lastFire: "2026-03-01T09:00:00Z",
        now: "2026-03-02T13:00:00Z",
        firstMissed: "2026-03-02T12:00:00Z",
        nextFire: nil
    ),
    DowntimeCase(
        spec: "@at 2026-03-02T12:00:00Z",
        lastFire: "2026-03-02T12:00:00Z",
        now: "2026-03-02T13:00:00Z",
        firstMissed: nil,
        nextFire: nil
    ),
    // Down over a weekend: Friday's and Monday's 09:00 Berlin runs are missed (in CET, UTC+1).
    DowntimeCase(
        spec: "0 9 * * mon-fri",
        lastFire: "2026-03-05T08:00:00Z",
        now: "2026-03-09T12:00:00Z",
        firstMissed: "2026-03-06T08:00:00Z",
        nextFire: "2026-03-10T08:00:00Z"
    ),
]

struct MissedRunPolicyTests {
    @Test(arguments: downtimeCases)
    func skipNeverCatchesUpAndResumesFromNow(_ row: DowntimeCase) throws {
        let resumption = try resume(row, with: .skip)
        #expect(resumption.runsCatchUp == false)
        try expectTimes(of: resumption, match: row)
    }

    @Test(arguments: downtimeCases)
    func runOnceCatchesUpExactlyOnceWhenAnythingWasMissedAndResumesFromNow(_ row: DowntimeCase) throws {
        let resumption = try resume(row, with: .runOnce)
        #expect(resumption.runsCatchUp == (row.firstMissed != nil))
        try expectTimes(of: resumption, match: row)
    }

    @Test(arguments: [(MissedRunPolicy.skip, #""skip""#), (.runOnce, #""run_once""#)])
    func aPolicyIsStoredAsItsConfigString(_ policy: MissedRunPolicy, _ json: String) throws {
        let encoded = String(decoding: try JSONEncoder().encode(policy), as: UTF8.self)
        #expect(encoded == json)
        #expect(try JSONDecoder().decode(MissedRunPolicy.self, from: Data(json.utf8)) == policy)
    }

    @Test(arguments: [#""runOnce""#, #""RUN_ONCE""#, #""""#, "1"])
    func anUnknownPolicyStringFailsToDecode(_ json: String) {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(MissedRunPolicy.self, from: Data(json.utf8)) }
    }

    private func resume(_ row: DowntimeCase, with policy: MissedRunPolicy) throws -> MissedRunPolicy.Resumption {
        policy.resumption(
            lastFire: try instant(row.lastFire),
            now: try instant(row.now),
            spec: try ScheduleSpec(parsing: row.spec),
            in: try zone("Europe/Berlin")
        )
    }

    private func expectTimes(of resumption: MissedRunPolicy.Resumption, match row: DowntimeCase) throws {
        #expect(resumption.firstMissed == (try row.firstMissed.map(instant)))
        #expect(resumption.nextFire == (try row.nextFire.map(instant)))
    }
}
