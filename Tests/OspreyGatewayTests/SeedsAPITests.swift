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

/// Seeds: immutable, versioned specifications; a new generation for every change; the evolution of a lineage.
struct SeedsAPITests {
    static let seed = #"""
        {"goal":"Add a /health route to the service","constraints":["no new dependencies"],
         "acceptance":[{"id":"tests","criterion":"the tests pass","check":{"command":"swift test"},"critical":true},
                       {"id":"route","criterion":"the route exists","check":{"regex":"/health","file":"Sources/App.swift"}}],
         "ontology":[{"name":"route","description":"an HTTP path the service answers"}],"non_goals":["auth"]}
        """#

    @Test func seedsAreImmutableGenerationsWithTheirEvolution() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            // Bad documents: a clear 400 naming the field, nothing stored.
            for (document, field) in [
                (#"{"acceptance":[{"id":"a","criterion":"x","check":{"judge":"y"}}]}"#, "goal"),
                (#"{"goal":"g","acceptance":[]}"#, "acceptance"),
                (
                    #"{"goal":"g","acceptance":[{"id":"a","criterion":"x","check":{"command":"a","judge":"b"}}]}"#,
                    "exactly one"
                ),
                (#"{"goal":"g","acceptance":[{"id":"a","criterion":"x","check":{"regex":"x"}}]}"#, "needs its file"),
                (
                    #"{"goal":"g","acceptance":[{"id":"a","criterion":"x","check":{"regex":"(","file":"f"}}]}"#,
                    "regular expression"
                ),
                (
                    #"{"goal":"g","acceptance":[{"id":"a","criterion":"x","check":{"judge":"y"}},{"id":"a","criterion":"z","check":{"judge":"y"}}]}"#,
                    "used twice"
                ),
                (
                    #"{"goal":"g","acceptance":[{"id":"a","criterion":"x","check":{"judge":"y"}}],"deadline":"soon"}"#,
                    "unknown field"
                ),
            ] {
                let response = try await client.post("/api/seeds", #"{"document":\#(document)}"#)
                #expect(response.status == .badRequest, "\(document)")
                #expect(response.json["error"]?["message"]?.stringValue?.contains(field) == true, "\(response.json)")
            }
            #expect(try await gateway.store.seeds.latest().isEmpty)
            // The first generation: stored with the SHA-256 of its canonical JSON.
            let first = try await client.post("/api/seeds", #"{"document":\#(Self.seed)}"#)
            #expect(first.status == .created, "\(first.json)")
            let id = try #require(first.json["id"]?.stringValue)
            #expect(first.json["generation"] == 1 && first.json["lineage"] == .string(id))
            let canonical = try #require(first.json["document"]?.canonicalJSON)
            #expect(first.json["sha256"] == .string(Event.sha256Hex(canonical)))
            #expect(first.json["document"]?["acceptance"]?.arrayValue?.first?["critical"] == true)
            // The next generation says what changed; only the latest may evolve; a change needs its reason.
            let changed = Self.seed.replacingOccurrences(
                of: "no new dependencies",
                with: "no new dependencies; keep the API stable"
            )
            let second = try await client.post(
                "/api/seeds/\(id)/evolve",
                #"{"document":\#(changed),"changes":"the first generation broke a client"}"#
            )
            #expect(second.status == .created && second.json["generation"] == 2, "\(second.json)")
            #expect(second.json["lineage"] == .string(id) && second.json["parent"] == .string(id))
            let stale = try await client.post("/api/seeds/\(id)/evolve", #"{"document":\#(changed),"changes":"again"}"#)
            #expect(stale.status == .conflict, "\(stale.json)")
            let secondID = try #require(second.json["id"]?.stringValue)
            let unexplained = try await client.post("/api/seeds/\(secondID)/evolve", #"{"document":\#(changed)}"#)
            #expect(unexplained.status == .badRequest)
            // The evolution: how alike each generation is to the one before, and the drift from the first.
            let evolution = try await client.execute(
                uri: "/api/seeds/\(secondID)/evolution",
                method: .get,
                headers: TestGateway.auth()
            ) { $0.json }
            let generations = evolution["generations"]?.arrayValue ?? []
            #expect(generations.count == 2 && generations[0]["similarity_to_previous"] == .null)
            let similarity = generations.last?["similarity_to_previous"]?.doubleValue ?? 0
            #expect(similarity > 0.8 && similarity < 1, "\(evolution)")
            #expect(abs((evolution["drift"]?.doubleValue ?? 0) - (1 - similarity)) < 0.002, "\(evolution)")
            // The list shows each lineage once, at its latest generation.
            let listed = try await client.execute(uri: "/api/seeds", method: .get, headers: TestGateway.auth()) {
                $0.json
            }
            #expect(listed["seeds"]?.arrayValue?.map { $0["id"] } == [.string(secondID)], "\(listed)")
            try await client.execute(uri: "/api/seeds/seed_missing", method: .get, headers: TestGateway.auth()) {
                #expect($0.status == .notFound)
            }
        }
        let created = try await gateway.store.ledger.events(filter: EventFilter(type: "seed.created"))
        #expect(created.map { $0.payload["generation"] } == [1, 2])
    }

    @Test(.timeLimit(.minutes(3))) func theMechanicalStageChecksTheWorkspaceWithEvidence() async throws {
        var config = OspreyConfig()
        config.scriptedAgent(tools: ["read_file", "run_command"], approval: "autonomous")
        let gateway = try await TestGateway(config: config)
        let root = gateway.kernel.runtime.workspace.root
        try "let routes = [\"/health\"]".write(
            to: root.appendingPathComponent("App.swift"),
            atomically: true,
            encoding: .utf8
        )
        let document = #"""
            {"goal":"ship it","acceptance":[
              {"id":"built","criterion":"the build marker exists","check":{"command":"ls done.txt"}},
              {"id":"app","criterion":"the app file exists","check":{"file_exists":"App.swift"}},
              {"id":"route","criterion":"the route is declared","check":{"regex":"/health","file":"App.swift"}},
              {"id":"clear","criterion":"the code reads well","check":{"judge":"readability"}}]}
            """#
        try await gateway.app().test(.router) { client in
            let seed = try await client.post("/api/seeds", #"{"document":\#(document)}"#).json
            let id = try #require(seed["id"]?.stringValue)
            func evaluate() async throws -> [String: String] {
                let answer = try await client.post("/api/seeds/\(id)/evaluate", "{}").json
                #expect(answer["evaluation_passed"] == false && answer["phase_reached"] == "mechanical", "\(answer)")
                return Dictionary(
                    uniqueKeysWithValues: (answer["results"]?.arrayValue ?? []).map {
                        ($0["id"]?.stringValue ?? "", $0["status"]?.stringValue ?? "")
                    }
                )
            }
            #expect(
                try await evaluate() == ["built": "failed", "app": "passed", "route": "passed", "clear": "pending"]
            )
            try "done".write(to: root.appendingPathComponent("done.txt"), atomically: true, encoding: .utf8)
            #expect(try await evaluate()["built"] == "passed")
            // Every criterion mechanical and met: the evaluation passes.
            let mechanical =
                #"{"goal":"g","acceptance":[{"id":"app","criterion":"c","check":{"file_exists":"App.swift"}}]}"#
            let simple = try await client.post("/api/seeds", #"{"document":\#(mechanical)}"#).json
            let passed = try await client.post("/api/seeds/\(simple["id"]?.stringValue ?? "")/evaluate", "{}").json
            #expect(passed["evaluation_passed"] == true, "\(passed)")
            #expect(try await client.post("/api/seeds/seed_missing/evaluate", "{}").status == .notFound)
        }
        let evaluations = try await gateway.store.ledger.events(filter: EventFilter(type: "seed.evaluated"))
        #expect(evaluations.map { $0.payload["evaluation_passed"] } == [false, false, true])
    }
}
