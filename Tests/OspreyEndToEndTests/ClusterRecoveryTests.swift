import Foundation
import OspreyCore
import OspreyTesting
import Testing

/// Two real gateways on one PostgreSQL database: kill -9 of the one running a task, and the other adopts it when its
/// lease runs out and finishes it, with each side effect done once or marked interrupted, never run twice.
@Suite(.serialized)
struct ClusterRecoveryTests {
    let osprey: OspreyExecutable
    init() throws { osprey = try OspreyExecutable.locate() }

    enum Point: String, CaseIterable, Sendable {
        case duringATool, afterAToolFinished
    }

    static func script(_ point: Point, side: String) -> [ScriptedHTTPServer.Response] {
        switch point {
        case .duringATool:
            // A command that outlasts the second gateway's start even under load: the kill always lands in it
            [
                TaskRecoveryTests.toolCall("echo start >> \(side); sleep 30; echo end >> \(side)"),
                TaskRecoveryTests.answer,
            ]
        case .afterAToolFinished:
            [TaskRecoveryTests.toolCall("echo once >> \(side)"), TaskRecoveryTests.stalled, TaskRecoveryTests.answer]
        }
    }

    @Test(arguments: Point.allCases)
    func aKilledGatewaysTaskIsAdoptedAndFinishedByAnotherWithEachSideEffectOnce(point: Point) async throws {
        let database = try await PostgresServer()
        do {
            let shared = try TemporaryDirectory(prefix: "osprey-cluster-shared")
            defer { shared.remove() }
            let sidePath = shared.url.appendingPathComponent("side.txt").path
            @Sendable func sideEffects() -> String { (try? String(contentsOfFile: sidePath, encoding: .utf8)) ?? "" }
            let server = ScriptedHTTPServer(responses: Self.script(point, side: sidePath))
            try await server.run { server in
                // Two homes (one gateway per home), one database, one ledger key (the chain's head is signed with it)
                let homes = [
                    try TemporaryDirectory(prefix: "osprey-node-a"), try TemporaryDirectory(prefix: "osprey-node-b"),
                ]
                defer { for home in homes { home.remove() } }
                for (index, home) in homes.enumerated() {
                    let node = index == 0 ? "a" : "b"
                    try TaskRecoveryTests.config(
                        server,
                        extra: """
                            approval = "autonomous"
                            write_roots = ["\(shared.path)"]

                            [store]
                            backend = "postgres"
                            url = "\(database.url())"
                            node = "\(node)"

                            [tasks]
                            lease_seconds = 2
                            """
                    ).write(to: home.url.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
                }
                try Home(root: homes[0].url).bootstrap()
                let secrets = Home(root: homes[1].url).secretsDirectory
                try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
                try FileManager.default.copyItem(
                    at: Home(root: homes[0].url).ledgerKeyFile,
                    to: Home(root: homes[1].url).ledgerKeyFile
                )
                let a = ["--home", homes[0].path]
                let b = ["--home", homes[1].path]

                // Given a task running on gateway a (b is not up yet, so a claims it),
                var gatewayA = try await osprey.startGateway(home: homes[0].path, port: freeLoopbackPort())
                defer { gatewayA.kill() }
                let submitted = try await osprey.run(["tasks", "submit", "--title", "cluster test", "do it"] + a)
                #expect(submitted.status == 0, "\(submitted.stderr)")
                let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                switch point {
                case .duringATool:
                    try await TaskRecoveryTests.wait("the command has started") { sideEffects() == "start\n" }
                case .afterAToolFinished:
                    try await TaskRecoveryTests.wait("the second model call is in flight") {
                        server.requests.count == 2 && sideEffects() == "once\n"
                    }
                }
                let gatewayB = try await osprey.startGateway(home: homes[1].path, port: freeLoopbackPort())
                defer { gatewayB.kill() }
                // when a is killed with it,
                gatewayA.kill()
                // then b adopts it once a's lease has run out, and finishes it on its second attempt,
                var task = JSONValue.null
                try await TaskRecoveryTests.wait("the task completes on b") {
                    task = try JSONValue.parse(try await osprey.run(["tasks", "show", id, "--json"] + b).stdout)
                    return task["status"] == "completed" || task["status"] == "failed"
                }
                #expect(task["status"] == "completed", "\(task)")
                #expect(task["result"] == "done")
                #expect(task["attempts"] == 2)
                let adopted = try await osprey.run(["events", "--type", "task.adopted", "--json"] + b)
                #expect(
                    adopted.stdout.contains(#""from":"a""#) && adopted.stdout.contains(#""node":"b""#),
                    "\(adopted.stdout)"
                )
                // and each side effect happened once, or was marked interrupted and never run again.
                switch point {
                case .afterAToolFinished:
                    #expect(sideEffects() == "once\n")
                case .duringATool:
                    // A re-run would have written its "start" before the task completed (its command outlasts the
                    // test), so the file is read now, without waiting
                    #expect(sideEffects() == "start\n")
                    let events = try await osprey.run(["events", "--type", "tool.call.interrupted", "--json"] + b)
                    #expect(events.stdout.contains("call_1"), "\(events.stdout)")
                }
                #expect(try await osprey.run(["audit", "verify"] + b).status == 0)
                gatewayA = try await osprey.startGateway(home: homes[0].path, port: freeLoopbackPort())
                // A restarted a does not run it again: it is no longer a's
                #expect(try await osprey.run(["audit", "verify"] + a).status == 0)
                #expect(
                    try JSONValue.parse(try await osprey.run(["tasks", "show", id, "--json"] + a).stdout)["attempts"]
                        == 2
                )
            }
        } catch {
            await database.stop()
            throw error
        }
        await database.stop()
    }
}
