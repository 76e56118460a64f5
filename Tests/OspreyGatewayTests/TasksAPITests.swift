import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

struct TasksAPITests {
    @Test func tasksAndSchedulesOverRESTWithClearErrorsForBadInput() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            func post(_ uri: String, _ body: String) async throws -> (HTTPResponse.Status, JSONValue) {
                let response = try await client.post(uri, body)
                return (response.status, response.json)
            }
            // Bad input: a clear 400, nothing stored.
            for (uri, body, fragment) in [
                ("/api/tasks", #"{"title":"t","instructions":"x","priority":10}"#, "priority"),
                ("/api/tasks", #"{"title":"t","instructions":"x","agent":"ghost"}"#, "ghost"),
                ("/api/tasks", #"{"title":"t"}"#, "instructions"),
                ("/api/tasks", #"{"title":"t","instructions":"x","tools":"all"}"#, "tools"),
                // A tool name that names no tool (before: stored, and the task ran without the tool it meant)
                ("/api/tasks", #"{"title":"t","instructions":"x","tools":["read_file","nope"]}"#, "'nope'"),
                ("/api/schedules", #"{"spec":"@daily","title":"t","instructions":"x","tools":["grpe"]}"#, "'grpe'"),
                ("/api/schedules", #"{"spec":"61 * * * *","title":"t","instructions":"x"}"#, "minute"),
                (
                    "/api/schedules", #"{"spec":"@daily","timezone":"Nowhere/City","title":"t","instructions":"x"}"#,
                    "time zone"
                ),
                ("/api/schedules", #"{"title":"t","instructions":"x"}"#, "exactly one"),
                ("/api/schedules", #"{"spec":"@daily","missed":"twice","title":"t","instructions":"x"}"#, "missed"),
            ] {
                let (status, json) = try await post(uri, body)
                #expect(status == .badRequest, "\(body)")
                #expect(json["error"]?["message"]?.stringValue?.contains(fragment) == true, "\(json)")
            }
            #expect(try await gateway.store.tasks.list().isEmpty)
            #expect(try await gateway.store.schedules.list().isEmpty)
            // A task is stored queued with its own session; it can be listed, shown and cancelled.
            let (created, task) = try await post(
                "/api/tasks",
                #"{"title":"Summarise","instructions":"Summarise notes.md","priority":7}"#
            )
            #expect(created == .created)
            #expect(task["status"] == "queued" && task["priority"] == 7)
            let id = try #require(task["id"]?.stringValue)
            try await client.execute(uri: "/api/tasks?status=queued", method: .get, headers: TestGateway.auth()) {
                #expect($0.json["tasks"]?.arrayValue?.count == 1)
            }
            let (cancelled, after) = try await post("/api/tasks/\(id)/cancel", "")
            #expect(cancelled == .ok && after["status"] == "cancelled")
            let (again, _) = try await post("/api/tasks/\(id)/cancel", "")
            #expect(again == .conflict)
            try await client.execute(uri: "/api/tasks/tsk_missing", method: .get, headers: TestGateway.auth()) {
                #expect($0.status == .notFound)
            }
            // A schedule in a named zone, run on demand, then removed.
            let (scheduled, schedule) = try await post(
                "/api/schedules",
                #"{"spec":"0 9 * * mon-fri","timezone":"Europe/Berlin","title":"standup","instructions":"Prepare the standup."}"#
            )
            #expect(scheduled == .created)
            #expect(schedule["timezone"] == "Europe/Berlin" && schedule["next_fire_at"] != .null)
            let scheduleID = try #require(schedule["id"]?.stringValue)
            let (ran, fired) = try await post("/api/schedules/\(scheduleID)/run", "")
            #expect(ran == .created && fired["task"]?["schedule"]?.stringValue == scheduleID)
            try await client.execute(uri: "/api/schedules/\(scheduleID)", method: .delete, headers: TestGateway.auth())
            {
                #expect($0.status == .noContent)
            }
            try await client.execute(uri: "/api/schedules/\(scheduleID)", method: .delete, headers: TestGateway.auth())
            {
                #expect($0.status == .notFound)
            }
            // Without a zone: UTC, under the name the README gives it (Foundation's own name for it is "GMT").
            let (_, plain) = try await post(
                "/api/schedules",
                #"{"spec":"@daily","title":"daily","instructions":"Tidy up."}"#
            )
            #expect(plain["timezone"] == "UTC")
        }
        let types = try await gateway.store.ledger.events(limit: 1000).map(\.type.rawValue)
        for type in ["task.created", "task.cancelled", "schedule.created", "schedule.fired", "schedule.removed"] {
            #expect(types.contains(type), "\(type)")
        }
    }

    @Test func aSubAgentNeverGainsAToolItsParentLacks() async throws {
        // The parent may only read; it tries to delegate a task with run_command.
        var config = OspreyConfig()
        var agent = OspreyConfig.Agent()
        agent.model = "scripted/test"
        agent.tools = ["read_file", "submit_task"]
        config.agents["default"] = agent
        let provider = ScriptedProvider(messages: [
            .toolCall("submit_task", #"{"title":"escalate","instructions":"run it","tools":["run_command"]}"#),
            .toolCall(
                "submit_task",
                #"{"title":"read","instructions":"read notes","tools":["read_file"]}"#,
                id: "call_2"
            ),
            .assistant("delegated"),
        ])
        let gateway = try await TestGateway(config: config, provider: provider)
        let session = try await gateway.store.sessions.create(actor: .user("test"))
        try await gateway.app().test(.router) { client in
            try await client.execute(
                uri: "/api/sessions/\(session.id)/messages",
                method: .post,
                headers: TestGateway.auth(),
                body: TestGateway.json(#"{"content":"delegate"}"#)
            ) { #expect($0.status == .ok) }
        }
        let tasks = try await gateway.store.tasks.list()
        #expect(tasks.map(\.title) == ["read"])
        #expect(tasks.first?.tools == ["read_file"])
        let denied = try await gateway.store.ledger.events(filter: EventFilter(type: "policy.decision"))
            .filter { $0.payload["verdict"] == "deny" }
        #expect(denied.first?.payload["rule"] == "capabilities")
    }
}
