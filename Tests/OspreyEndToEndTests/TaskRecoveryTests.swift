import Foundation
import OspreyCore
import OspreyTesting
import Testing

/// kill -9 of a real gateway at several points of a running task, then a restart: the task completes, each side
/// effect happened exactly once or was marked interrupted, and the ledger still verifies.
@Suite(.serialized)
struct TaskRecoveryTests {
    let osprey: OspreyExecutable
    init() throws { osprey = try OspreyExecutable.locate() }

    enum Point: String, CaseIterable, Sendable {
        case waitingForTheModel, duringATool, afterAToolFinished
    }

    static func toolCall(_ command: String) -> ScriptedHTTPServer.Response {
        let arguments = JSONValue.object(["command": .string(command)]).canonicalJSON
        let chunk =
            #"{"choices":[{"index":0,"finish_reason":"tool_calls","delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"run_command","arguments":"#
            + JSONValue.string(arguments).canonicalJSON + "}}]}}]}"
        return .sse([chunk, "[DONE]"])
    }

    static let answer = ScriptedHTTPServer.Response.sse([
        #"{"choices":[{"index":0,"delta":{"role":"assistant","content":"done"},"finish_reason":"stop"}]}"#,
        #"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":1}}"#, "[DONE]",
    ])

    /// A reply that starts and then hangs: the gateway is killed while it waits.
    static let stalled = ScriptedHTTPServer.Response(
        headers: ["Content-Type": "text/event-stream"],
        chunks: [
            "data: " + #"{"choices":[{"index":0,"delta":{"role":"assistant","content":"thinking"}}]}"# + "\n\n",
            "data: [DONE]\n\n",
        ],
        pause: .seconds(120)
    )

    /// The command's sleep, long and odd enough to be found among the host's processes by its arguments (the
    /// shell running the command has it too, after a space, not a NUL).
    static let longSleep = "3600.4217"
    static let sleeping = "sleep\0\(longSleep)\0"

    static func script(_ point: Point) -> [ScriptedHTTPServer.Response] {
        switch point {
        case .waitingForTheModel: [stalled, toolCall("echo once >> side.txt"), answer]
        // The command outlives any delay before the kill (a loaded machine once took 3 s to notice "start").
        case .duringATool: [toolCall("echo start >> side.txt; sleep \(longSleep); echo end >> side.txt"), answer]
        case .afterAToolFinished: [toolCall("echo once >> side.txt"), stalled, answer]
        }
    }

    /// A config.toml whose default agent has every tool and talks to `server` in OpenAI's format.
    static func config(_ server: ScriptedHTTPServer, extra: String = "") -> String {
        """
        [[providers]]
        name = "mock"
        kind = "openai"
        base_url = "\(server.baseURL)/v1"
        models = ["test"]

        [agents.default]
        tools = ["*"]
        model = "mock/test"
        \(extra)
        """
    }

    static func wait(_ what: String, seconds: Int = 30, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<(seconds * 10) {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ProcessFailure(message: "timed out waiting until \(what)")
    }

    @Test(arguments: Point.allCases)
    func aTaskSurvivesKill9AndRunsEachSideEffectOnce(point: Point) async throws {
        let server = ScriptedHTTPServer(responses: Self.script(point))
        try await server.run { server in
            let home = try TemporaryDirectory(prefix: "osprey-crash")
            defer { home.remove() }
            try Self.config(server, extra: #"approval = "autonomous""#).write(
                to: home.url.appendingPathComponent("config.toml"),
                atomically: true,
                encoding: .utf8
            )
            let args = ["--home", home.path]
            let side = home.url.appendingPathComponent("workspace/side.txt")
            func sideEffects() -> String { (try? String(contentsOf: side, encoding: .utf8)) ?? "" }

            // Given a running task,
            var gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            defer { gateway.kill() }
            let submitted = try await osprey.run(["tasks", "submit", "--title", "crash test", "do it"] + args)
            #expect(submitted.status == 0, "\(submitted.stderr)")
            let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            // when the gateway is killed at the chosen point,
            switch point {
            case .waitingForTheModel:
                try await Self.wait("the first model call is in flight") { server.requests.count == 1 }
            case .duringATool:
                try await Self.wait("the command has started") {
                    sideEffects() == "start\n" && !HostProcesses.containing(Self.sleeping).isEmpty
                }
            case .afterAToolFinished:
                try await Self.wait("the second model call is in flight") {
                    server.requests.count == 2 && sideEffects() == "once\n"
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            gateway.kill()
            // and started again on the same home,
            gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            var task = JSONValue.null
            try await Self.wait("the task completes") {
                task = try JSONValue.parse(try await osprey.run(["tasks", "show", id, "--json"] + args).stdout)
                return task["status"] == "completed" || task["status"] == "failed"
            }
            // then it completed on its second attempt,
            #expect(task["status"] == "completed", "\(task)")
            #expect(task["result"] == "done")
            #expect(task["attempts"] == 2)
            // and every side effect happened once, or was marked interrupted and never re-run.
            switch point {
            case .waitingForTheModel, .afterAToolFinished:
                #expect(sideEffects() == "once\n")
            case .duringATool:
                // The sandboxed command died with the gateway (bwrap --die-with-parent) and was not run again.
                try await Self.wait("the command is gone") { HostProcesses.containing(Self.sleeping).isEmpty }
                #expect(sideEffects() == "start\n")
                let events = try await osprey.run(["events", "--type", "tool.call.interrupted", "--json"] + args)
                #expect(events.stdout.contains("call_1"), "\(events.stdout)")
            }
            #expect(try await osprey.run(["audit", "verify"] + args).status == 0)
        }
    }
}
