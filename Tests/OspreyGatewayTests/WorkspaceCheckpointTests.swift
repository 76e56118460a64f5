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

/// Workspace checkpoints: git in a repository of Osprey's own beside the workspace; before every task that may
/// write, and on demand; what changed since one; a restore that brings back a deleted file.
struct WorkspaceCheckpointTests {
    @Test(.timeLimit(.minutes(3))) func aRestoreBringsBackADeletedFileAndRemovesANewOne() async throws {
        let provider = ScriptedProvider(messages: [
            .toolCall("write_file", #"{"path":"made-by-task.txt","content":"task output"}"#), .assistant("Written."),
        ])
        let gateway = try await TestGateway(provider: provider)
        let root = gateway.kernel.runtime.workspace.root
        @Sendable func file(_ name: String) -> URL { root.appendingPathComponent(name) }
        try "keep me".write(to: file("notes.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: file("docs"), withIntermediateDirectories: true)
        try "v1".write(to: file("docs/plan.md"), atomically: true, encoding: .utf8)
        // The user's own repository in the workspace is not touched.
        try FileManager.default.createDirectory(at: file(".git"), withIntermediateDirectories: true)
        try "ref: refs/heads/main".write(to: file(".git/HEAD"), atomically: true, encoding: .utf8)
        try await gateway.app().test(.router) { client in
            let made = try await client.post("/api/checkpoints", #"{"label":"before the change"}"#)
            #expect(made.status == .created, "\(made.json)")
            let id = try #require(made.json["id"]?.stringValue)
            #expect(made.json["label"] == "before the change")
            // The workspace changes: a file deleted, one edited, one added.
            try FileManager.default.removeItem(at: file("notes.txt"))
            try "v2".write(to: file("docs/plan.md"), atomically: true, encoding: .utf8)
            try "new".write(to: file("scratch.txt"), atomically: true, encoding: .utf8)
            let diff = try await client.execute(
                uri: "/api/checkpoints/\(id.prefix(10))/diff",
                method: .get,
                headers: TestGateway.auth()
            ) { $0.json }
            let summary = diff["summary"]?.stringValue ?? ""
            #expect(
                summary.contains("notes.txt") && summary.contains("docs/plan.md") && summary.contains("scratch.txt")
            )
            let patch = diff["patch"]?.stringValue ?? ""
            #expect(patch.contains("\n-v1\n") && patch.contains("\n+v2\n") && patch.contains("-keep me"), "\(diff)")
            // Restored: the deleted file is back, the edit undone, the new file gone; what was there is a checkpoint.
            let restored = try await client.post("/api/checkpoints/\(id)/restore", "{}")
            #expect(restored.status == .ok, "\(restored.json)")
            #expect(try String(contentsOf: file("notes.txt"), encoding: .utf8) == "keep me")
            #expect(try String(contentsOf: file("docs/plan.md"), encoding: .utf8) == "v1")
            #expect(!FileManager.default.fileExists(atPath: file("scratch.txt").path))
            #expect(try String(contentsOf: file(".git/HEAD"), encoding: .utf8) == "ref: refs/heads/main")
            let safety = try #require(restored.json["safety"]?["id"]?.stringValue)
            // ... so the restore can be undone.
            _ = try await client.post("/api/checkpoints/\(safety)/restore", "{}")
            #expect(try String(contentsOf: file("scratch.txt"), encoding: .utf8) == "new")
            // Bad ids: a clear 400 or 404, never an argument for git.
            for (bad, status) in [
                ("--help", HTTPResponse.Status.badRequest), ("abc", .badRequest), ("0000000", .notFound),
            ] {
                let response = try await client.execute(
                    uri: "/api/checkpoints/\(bad)/diff",
                    method: .get,
                    headers: TestGateway.auth()
                ) { $0 }
                #expect(response.status == status, "\(bad): \(response.json)")
            }
            // A task that may write starts from a checkpoint of its own.
            let task = try await client.post("/api/tasks", #"{"title":"write","instructions":"write a file"}"#).json
            let taskID = try #require(task["id"]?.stringValue)
            try await TestRuns.running(gateway.kernel.supervisor) {
                try await TestRuns.waitUntil { try await gateway.store.tasks.get(TaskRecord.ID(taskID)).isFinished }
            }
            let listed = try await client.execute(uri: "/api/checkpoints", method: .get, headers: TestGateway.auth()) {
                $0.json
            }
            let labels = listed["checkpoints"]?.arrayValue?.compactMap { $0["label"]?.stringValue } ?? []
            #expect(labels.first == "before task \(taskID): write", "\(labels)")
            #expect(labels.count == 4 && labels.last == "before the change", "\(labels)")
        }
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("made-by-task.txt").path))
        // The user's .git is not Osprey's: the checkpoints live in the home.
        #expect(
            FileManager.default.fileExists(
                atPath: gateway.directory.url.appendingPathComponent("checkpoints.git/HEAD").path
            )
        )
        let kinds = try await gateway.store.ledger.events(filter: EventFilter(type: "checkpoint.*")).map(
            \.type.rawValue
        )
        #expect(
            kinds == ["checkpoint.created", "checkpoint.restored", "checkpoint.restored", "checkpoint.created"],
            "\(kinds)"
        )
    }
}
