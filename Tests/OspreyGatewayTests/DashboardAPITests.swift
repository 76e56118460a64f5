import Foundation
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyMemory
import OspreyScheduler
import OspreyStore
import OspreyTesting
import Testing

/// The API calls the dashboard added: editing a memory, pausing a schedule, the system's extensions and sandbox,
/// spending per day.
struct DashboardAPITests {
    @Test func aMemoryIsEditedInPlaceKeepingItsTrust() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            let stored = try await client.post(
                "/api/memory",
                #"{"content":"The heron fishes at the north pond.","source":"tool"}"#
            )
            let id = try #require(stored.json["id"]?.stringValue)
            let edited = try await client.execute(
                uri: "/api/memory/\(id)",
                method: .put,
                headers: TestGateway.auth(),
                body: TestGateway.json(#"{"content":"The heron fishes at the south pond.","title":"heron"}"#)
            ) { $0 }
            #expect(edited.status == .ok, "\(edited.json)")
            #expect(edited.json["title"] == "heron")
            // Editing does not launder content: what came from a tool stays untrusted.
            #expect(edited.json["trust"] == "untrusted")
            let hits = try await gateway.kernel.memory.search("south pond", limit: 1)
            #expect(hits.first?.record.id == id && hits.first?.record.body.contains("south") == true)
            #expect(try await gateway.kernel.memory.search("north", limit: 5).isEmpty)
            let events = try await gateway.store.ledger.events(filter: EventFilter(type: "memory.updated"))
            #expect(events.count == 1 && events.first?.payload["id"]?.stringValue == id)
            for (uri, body, status) in [
                ("/api/memory/mem_nothing", #"{"content":"x"}"#, HTTPResponse.Status.notFound),
                ("/api/memory/\(id)", #"{"content":"   "}"#, .badRequest),
                ("/api/memory/\(id)", #"{"content":"x","trust":"trusted"}"#, .badRequest),
            ] {
                let refused = try await client.execute(
                    uri: uri,
                    method: .put,
                    headers: TestGateway.auth(),
                    body: TestGateway.json(body)
                ) { $0.status }
                #expect(refused == status, "\(uri) \(body)")
            }
        }
    }

    @Test func aPausedScheduleFiresNeitherByTimeNorByEventUntilResumed() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            let timed = try await client.post(
                "/api/schedules",
                #"{"title":"hourly","instructions":"check","spec":"@every 1h"}"#
            )
            let id = try #require(timed.json["id"]?.stringValue)
            let paused = try await client.post("/api/schedules/\(id)/pause")
            #expect(paused.status == .ok && paused.json["paused"] == true, "\(paused.json)")
            let later = Date().addingTimeInterval(2 * 3600)
            #expect(try await gateway.kernel.scheduler.tick(now: later) == 0)
            let resumed = try await client.post("/api/schedules/\(id)/resume")
            #expect(resumed.json["paused"] == false)
            #expect(try await gateway.kernel.scheduler.tick(now: later) == 1)
            let unknown = try await client.post("/api/schedules/sch_nothing/pause")
            #expect(unknown.status == .notFound)
            let kinds = try await gateway.store.ledger.events(filter: EventFilter(type: "schedule.*")).map(
                \.type.rawValue
            )
            #expect(kinds.contains("schedule.paused") && kinds.contains("schedule.resumed"))
        }
    }

    @Test func theSystemSaysWhatItRunsWithAndUsageIsPerDay() async throws {
        let gateway = try await TestGateway(provider: ScriptedProvider(messages: [.assistant("Hello!")]))
        try await gateway.app().test(.router) { client in
            let session = try await client.post("/api/sessions", #"{"agent":"default"}"#)
            let id = try #require(session.json["id"]?.stringValue)
            _ = try await client.post("/api/sessions/\(id)/messages", #"{"content":"hi"}"#)
            let system = try await client.execute(uri: "/api/system", method: .get, headers: TestGateway.auth()) {
                $0.json
            }
            #expect(system["sandbox"]?["rung"]?.stringValue?.isEmpty == false, "\(system)")
            #expect(system["plugins"] == [] && system["mcp_servers"] == [])
            #expect(system["skills"]?.arrayValue != nil)
            let usage = try await client.execute(uri: "/api/usage?days=7", method: .get, headers: TestGateway.auth()) {
                $0.json
            }
            let today = try #require(usage["days"]?.arrayValue?.last)
            #expect(today["agent"] == "default" && (today["tokens"]?.intValue ?? 0) > 0, "\(usage)")
            let budgets = try await client.execute(uri: "/api/budgets", method: .get, headers: TestGateway.auth()) {
                $0.json
            }
            #expect(budgets["budgets"]?.arrayValue?.first?["tokens_today"] == today["tokens"], "\(budgets)")
            // The same spending by model, from the llm.call events.
            let byModel = try #require(usage["models"]?.arrayValue?.last)
            #expect(byModel["model"] == "scripted/test" && byModel["tokens"] == today["tokens"], "\(usage)")
            let bad = try await client.execute(uri: "/api/usage?days=0", method: .get, headers: TestGateway.auth()) {
                $0.status
            }
            #expect(bad == .badRequest)
        }
    }
}
