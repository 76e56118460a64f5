import Foundation
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyScheduler
import OspreyStore
import OspreyTesting
import Testing

/// The budget API: limits, spending and what is left; an operator's override; the 80 % warning; at 100 % the next
/// call is refused before it is made and the agent's schedules pause; resume, by hand or with a new day.
struct BudgetsAPITests {
    static func put(_ client: some TestClientProtocol, _ body: String) async throws -> TestResponse {
        try await client.execute(
            uri: "/api/budgets/default",
            method: .put,
            headers: TestGateway.auth(),
            body: TestGateway.json(body)
        ) { $0 }
    }

    @Test func aRunCrossesEightyPercentThenTheLimitPausesTheAgentsSchedulesUntilResumed() async throws {
        let provider = ScriptedProvider(messages: [.assistant("Within budget.")])
        let gateway = try await TestGateway(provider: provider)
        try await gateway.app().test(.router) { client in
            let schedule = try await client.post(
                "/api/schedules",
                #"{"title":"often","instructions":"report","spec":"@every 10s"}"#
            )
            let scheduleID = try #require(schedule.json["id"]?.stringValue)
            let trigger = try await client.post(
                "/api/schedules",
                #"{"title":"on memory","instructions":"react","trigger":{"event":"memory.stored"}}"#
            )
            #expect(trigger.status == .created)
            #expect(try await gateway.store.schedules.triggers().first?.paused == false)  // read, so it is cached
            // A limit of one token: the next call is refused before it is made, and the agent's schedules pause.
            #expect(try await Self.put(client, #"{"tokens_per_day":1}"#).json["tokens_per_day"] == 1)
            let first = try await client.post("/api/sessions", #"{"agent":"default"}"#).json["id"]?.stringValue ?? ""
            let refused = try await client.post("/api/sessions/\(first)/messages", #"{"content":"hello"}"#)
            #expect(refused.status == .tooManyRequests || refused.status.code >= 400, "\(refused.json)")
            let exceeded = try #require(
                try await gateway.store.ledger.events(filter: EventFilter(type: "budget.exceeded")).last
            )
            let estimate = try #require(exceeded.payload["estimated_tokens"]?.intValue)
            var budgets = try await client.execute(uri: "/api/budgets", method: .get, headers: TestGateway.auth()) {
                $0.json
            }
            #expect(budgets["budgets"]?.arrayValue?.first?["paused"] == true, "\(budgets)")
            let paused = try await gateway.store.schedules.get(ScheduleRecord.ID(scheduleID))
            #expect(paused.paused && paused.pausedBy == "budget")
            // Due, but paused (ticked 20 s on, not hours: a tick on the next UTC day would lift the day's pause).
            #expect(try await gateway.kernel.scheduler.tick(now: Date().addingTimeInterval(20)) == 0)
            // The event-triggered schedule is paused too, in what the scheduler matches events against.
            #expect(try await gateway.store.schedules.triggers().first?.pausedBy == "budget")
            // An operator resumes it: the schedule fires again.
            let resumed = try await client.post("/api/budgets/default/resume")
            #expect(resumed.json["schedules_resumed"] == 2 && resumed.json["paused"] == false, "\(resumed.json)")
            #expect(try await gateway.store.schedules.triggers().first?.paused == false)
            #expect(try await gateway.store.schedules.get(ScheduleRecord.ID(scheduleID)).paused == false)
            // With room for one call but past 80 % of the day's limit: the call is made, and the operator warned.
            let limit = Int((Double(estimate) / 0.85).rounded(.up))
            _ = try await Self.put(client, #"{"tokens_per_day":\#(limit)}"#)
            let second = try await client.post("/api/sessions", #"{"agent":"default"}"#).json["id"]?.stringValue ?? ""
            let answered = try await client.post("/api/sessions/\(second)/messages", #"{"content":"hello"}"#)
            #expect(answered.json["response"] == "Within budget.", "\(answered.json)")
            let warnings = try await gateway.store.ledger.events(filter: EventFilter(type: "budget.warning"))
            #expect(warnings.count == 1 && (warnings.first?.payload["share"]?.doubleValue ?? 0) >= 0.8, "\(warnings)")
            budgets = try await client.execute(uri: "/api/budgets", method: .get, headers: TestGateway.auth()) {
                $0.json
            }
            let today = try #require(budgets["budgets"]?.arrayValue?.first)
            #expect(today["warned"] == true && today["tokens_today"] == 15 && today["overridden"] == true, "\(today)")
            #expect(today["tokens_left"]?.intValue == limit - 15)
            // A viewer cannot change budgets; bad values are refused.
            #expect(try await Self.put(client, #"{"tokens_per_day":-5}"#).status == .badRequest)
            let unknown = try await client.execute(
                uri: "/api/budgets/ghost",
                method: .put,
                headers: TestGateway.auth(),
                body: TestGateway.json("{}")
            ) { $0.status }
            #expect(unknown == .notFound)
        }
        // A new UTC day lifts a pause by itself.
        try await gateway.store.budgets.pause("default", day: "2000-01-01", reason: "test")
        _ = try await gateway.kernel.scheduler.tick()
        #expect(try await gateway.store.budgets.state("default").pausedDay == nil)
        let kinds = try await gateway.store.ledger.events(filter: EventFilter(type: "budget.*")).map(\.type.rawValue)
        #expect(kinds.filter { $0 == "budget.paused" }.count == 2 && kinds.filter { $0 == "budget.resumed" }.count == 2)
        #expect(kinds.contains("budget.changed"))
    }
}
