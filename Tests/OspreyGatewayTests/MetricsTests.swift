import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import OspreyTools
import Testing

/// `/metrics` through swift-prometheus, read by the official `prometheus-client` parser: the counters move with a
/// scripted run, a task and a memory search.
struct MetricsTests {
    static let parser = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/metrics/parse.py").path

    /// The samples of a scrape as the official parser reads them (it refuses text that is not the exposition
    /// format), by name and labels.
    struct Scrape {
        var samples: [(name: String, labels: [String: String], value: Double)] = []
        var types: [String: String] = [:]

        func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
            samples.filter { sample in
                sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value }
            }.reduce(0) { $0 + $1.value }
        }

        init(_ text: String, directory: URL) async throws {
            let file = directory.appendingPathComponent("metrics-\(UUID().uuidString).txt")
            try text.write(to: file, atomically: true, encoding: .utf8)
            let result = try await runPython([MetricsTests.parser, file.path])
            #expect(result.status == 0, "\(result.stderr)\n\(text)")
            let json = try JSONValue.parse(result.stdout)
            for sample in json["samples"]?.arrayValue ?? [] {
                let labels = (sample["labels"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
                samples.append((sample["name"]?.stringValue ?? "", labels, sample["value"]?.doubleValue ?? .nan))
            }
            for family in json["families"]?.arrayValue ?? [] {
                types[family["name"]?.stringValue ?? ""] = family["type"]?.stringValue
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func countersMoveWithARunATaskAndASearch() async throws {
        var config = OspreyConfig()
        config.scriptedAgent(tools: ["read_file", "submit_task"])
        let provider = ScriptedProvider(messages: [
            .toolCall("read_file", #"{"path":"notes.txt"}"#),
            .toolCall("read_file", #"{"path":"/etc/passwd"}"#, id: "call_2"),
            .assistant("Read it and was refused the rest."),
            .assistant("The task is done."),
        ])
        let gateway = try await TestGateway(config: config, provider: provider)
        try "ospreys".write(
            to: gateway.kernel.runtime.workspace.root.appendingPathComponent("notes.txt"),
            atomically: true,
            encoding: .utf8
        )
        let session = try await gateway.store.sessions.create(agent: "default", actor: .user("test"))
        try await TestRuns.running(gateway.kernel.supervisor) {
            try await gateway.app().test(.router) { client in
                func scrape() async throws -> Scrape {
                    let text = try await client.execute(uri: "/metrics", method: .get, headers: TestGateway.auth()) {
                        #expect($0.status == .ok)
                        #expect($0.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                        return String(buffer: $0.body)
                    }
                    return try await Scrape(text, directory: gateway.directory.url)
                }
                // A scraper without a token is refused: the metrics name agents, models and tools.
                try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .unauthorized) }
                let before = try await scrape()
                #expect(before.value("osprey_llm_calls_total") == 0)
                let sent = try await client.post("/api/sessions/\(session.id)/messages", #"{"content":"read"}"#)
                #expect(sent.status == .ok)
                let task = try await client.post("/api/tasks", #"{"title":"t","instructions":"do it"}"#).json
                let id = try #require(task["id"]?.stringValue)
                try await TestRuns.waitUntil { try await gateway.store.tasks.get(TaskRecord.ID(id)).isFinished }
                let searched = try await client.post("/api/memory/search", #"{"query":"ospreys"}"#)
                #expect(searched.status == .ok)
                let after = try await scrape()
                let route = ["provider": "scripted", "model": "test"]
                #expect(after.value("osprey_llm_calls_total", route.merging(["outcome": "ok"]) { $1 }) == 4)
                #expect(
                    after.types["osprey_llm_calls"] == "counter"
                        && after.types["osprey_llm_call_seconds"] == "histogram"
                )
                #expect(after.value("osprey_llm_call_seconds_count", route) == 4)
                // (the first streamed event of each reply, tool calls too)
                #expect(after.value("osprey_llm_first_token_seconds_count", route) == 4)
                // The tool calls and denials agree with the ledger's policy decisions.
                let decisions = try await gateway.store.ledger.events(filter: EventFilter(type: "policy.decision"))
                let denied = try #require(decisions.first { $0.payload["verdict"] == "deny" })
                let rule = try #require(denied.payload["rule"]?.stringValue)
                #expect(after.value("osprey_tool_calls_total", ["tool": "read_file", "decision": "allow"]) == 1)
                #expect(after.value("osprey_tool_calls_total", ["tool": "read_file", "decision": "deny"]) == 1)
                #expect(after.value("osprey_tool_calls_total") == Double(decisions.count))
                #expect(after.value("osprey_policy_denials_total", ["rule": rule]) == 1)
                #expect(after.value("osprey_tasks", ["status": "completed"]) == 1)
                #expect(after.value("osprey_tasks_finished_total", ["status": "completed"]) == 1)
                #expect(after.value("osprey_task_queue_wait_seconds_count") == 1)
                #expect(after.value("osprey_ledger_events_total", ["type": "llm.call"]) == 4)
                // Measured where they happen: every write's commit, the search, the streams open now.
                #expect(
                    after.value("osprey_ledger_append_seconds_count")
                        > before.value("osprey_ledger_append_seconds_count")
                )
                // (the API's search, and the recall before each of the two runs)
                #expect(after.value("osprey_memory_search_seconds_count") == 3)
                #expect(after.samples.contains { $0.name == "osprey_open_streams" && $0.labels["door"] == "sse" })
                #expect(after.value("osprey_sandbox_rung") == 1 && after.value("osprey_approvals_pending") == 0)
                #expect(
                    after.value("osprey_store_commits_total")
                        >= after.value("osprey_store_commits_total", ["x": "none"])
                )
                #expect(after.value("osprey_store_transactions_total") >= after.value("osprey_store_commits_total"))
                #expect(after.value("osprey_store_commits_total") > 0)
            }
        }
        var open = OspreyConfig()
        open.metrics.requireToken = false
        let scraped = try await TestGateway(config: open)
        try await scraped.app().test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .ok) }
        }
    }
}
