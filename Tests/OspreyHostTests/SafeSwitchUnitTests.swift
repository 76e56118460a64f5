import Foundation
import Logging
import OspreyCore
import OspreyHost
import OspreyStore
import OspreyTesting
import Testing

struct SafeSwitchUnitTests {
    func setup() throws -> (TemporaryDirectory, Home, URL, SafeSwitch, Store) {
        let directory = try TemporaryDirectory()
        let home = Home(root: directory.url.appendingPathComponent("home"))
        _ = try home.bootstrap()
        let granted = directory.url.appendingPathComponent("etc")
        try FileManager.default.createDirectory(at: granted, withIntermediateDirectories: true)
        let store = try Store.inMemory()
        let switches = SafeSwitch(store: store, home: home, roots: [granted.path], logger: Logger(label: "test"))
        return (directory, home, granted, switches, store)
    }

    @Test func aNewFileIsRemovedAndAnOldOneRestoredByARollback() async throws {
        let (directory, _, granted, switches, _) = try setup()
        defer { directory.remove() }
        let old = granted.appendingPathComponent("old.conf")
        try "before".write(to: old, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: old.path)
        let fresh = granted.appendingPathComponent("new.conf")
        let plan: JSONValue = [
            "reason": "test", "ttl_seconds": 60,
            "files": [
                ["path": .string(old.path), "content": "after"], ["path": .string(fresh.path), "content": "new"],
            ],
            "checks": [["kind": "command", "argv": ["true"]]],
        ]
        let record = try await switches.begin(plan, actor: .system)
        #expect(try String(contentsOf: old, encoding: .utf8) == "after")
        #expect(FileManager.default.fileExists(atPath: fresh.path))
        let rolled = try await switches.rollback(record.id, reason: "asked", actor: .system)
        #expect(rolled.status == .rolledBack && rolled.outcome?["healthy_after"] == true)
        #expect(try String(contentsOf: old, encoding: .utf8) == "before")
        #expect((try FileManager.default.attributesOfItem(atPath: old.path)[.posixPermissions] as? Int) == 0o640)
        #expect(!FileManager.default.fileExists(atPath: fresh.path))
    }

    /// A service that answers its check's head and then stalls: the check fails at its limit, so the rollback (which
    /// checks again) ends and the switch leaves probation, instead of waiting on the body for ever.
    @Test(.timeLimit(.minutes(1))) func aCheckWhoseAnswerStallsFailsAtItsLimit() async throws {
        let (directory, _, granted, switches, store) = try setup()
        defer { directory.remove() }
        let stalled = ScriptedHTTPServer.Response(chunks: ["still ", "starting"], pause: .seconds(3600))
        let server = ScriptedHTTPServer(responses: [stalled])
        try await server.run { server in
            let plan: JSONValue = [
                "reason": "test",
                "files": [["path": .string(granted.appendingPathComponent("app.conf").path), "content": "x"]],
                "checks": [["kind": "http", "url": .string(server.baseURL + "/health"), "expect_status": 200]],
            ]
            let record = try await switches.begin(plan, actor: .system)
            let rolled = try await switches.rollback(record.id, reason: "asked", actor: .system)
            #expect(rolled.status == .rolledBack && rolled.outcome?["healthy_after"] == false)
            let detail = rolled.outcome?["checks_after"]?.arrayValue?.first?["detail"]?.stringValue
            #expect(detail == "no whole answer within 5.0 seconds", "\(rolled.outcome ?? .null)")
            #expect(try await store.switches.list(probation: true).isEmpty)
        }
    }

    @Test func aLostSnapshotStillEndsTheSwitchWithItsProblemRecorded() async throws {
        let (directory, home, granted, switches, store) = try setup()
        defer { directory.remove() }
        let file = granted.appendingPathComponent("app.conf")
        let plan: JSONValue = [
            "reason": "test", "files": [["path": .string(file.path), "content": "x"]],
            "checks": [["kind": "command", "argv": ["true"]]],
        ]
        let record = try await switches.begin(plan, actor: .system)
        try FileManager.default.removeItem(at: home.switchesDirectory.appendingPathComponent(record.id.rawValue))
        // The next start's recovery ends it rather than refusing to start
        let recovered = try await SafeSwitch(
            store: store,
            home: home,
            roots: [granted.path],
            logger: Logger(label: "t")
        )
        .recover()
        #expect(recovered.map(\.id) == [record.id])
        #expect(recovered.first?.outcome?["problems"]?.arrayValue?.first?.stringValue?.contains("snapshot") == true)
        #expect(try await store.switches.list(probation: true).isEmpty)
    }

    @Test func plansAreCheckedBeforeAnythingIsTouched() async throws {
        let (directory, _, granted, switches, _) = try setup()
        defer { directory.remove() }
        let file = granted.appendingPathComponent("a.conf")
        for (plan, message) in [
            (["reason": "x", "files": [["path": .string(file.path), "content": "y"]]] as JSONValue, "health check"),
            (
                [
                    "files": [["path": .string(file.path), "content": "y"]],
                    "checks": [["kind": "command", "argv": ["true"]]],
                ], "reason"
            ),
            (
                [
                    "reason": "x", "files": [["path": .string(file.path), "content": "y"]],
                    "checks": [["kind": "http", "url": "http://example.com/"]],
                ], "localhost or"
            ),
            (
                [
                    "reason": "x", "files": [["path": .string(granted.path + "/../b"), "content": "y"]],
                    "checks": [["kind": "command", "argv": ["true"]]],
                ], "without .."
            ),
            (
                [
                    "reason": "x", "files": [["path": .string(file.path), "content": "y", "delete": true]],
                    "checks": [["kind": "command", "argv": ["true"]]],
                ], "either"
            ),
        ] {
            await #expect {
                try await switches.begin(plan, actor: .system)
            } throws: { error in
                "\(error)".contains(message)
            }
        }
        #expect(!FileManager.default.fileExists(atPath: file.path))
    }
}
