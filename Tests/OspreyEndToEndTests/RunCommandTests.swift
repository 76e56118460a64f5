import Foundation
import OspreyCore
import OspreyTesting
import Testing

/// `osprey run` against a real gateway process: the seed file stored, the spec run followed to its end, the report
/// printed and the exit code saying whether the evaluation passed.
struct RunCommandTests {
    @Test(.timeLimit(.minutes(2))) func aRunWhoseCoordinatorCannotPlanEndsWithExitOneAndSaysWhy() async throws {
        let osprey = try OspreyExecutable.locate()
        try await CLITests.ownMockModel().run { server in
            let home = try TemporaryDirectory(prefix: "osprey-run")
            defer { home.remove() }
            try CLITests.configure(home, server: server)
            let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            defer { gateway.kill() }
            let seed = URL(fileURLWithPath: home.path).appendingPathComponent("seed.json")
            try
                #"{"goal":"Write a.txt.","acceptance":[{"id":"a","criterion":"a.txt exists","check":{"file_exists":"a.txt"}}]}"#
                .write(to: seed, atomically: true, encoding: .utf8)
            let usage = try await osprey.run(["run", "--home", home.path])
            #expect(usage.status != 0)
            #expect(usage.stderr.contains("Give one of --seed, --seed-file or --spec"))
            // A seed file that is not JSON is named in the error.
            let broken = URL(fileURLWithPath: home.path).appendingPathComponent("broken.json")
            try "{goal:".write(to: broken, atomically: true, encoding: .utf8)
            let notJSON = try await osprey.run(["run", "--home", home.path, "--seed-file", broken.path])
            #expect(notJSON.status != 0 && notJSON.stderr.contains("\(broken.path) is not JSON"), "\(notJSON.stderr)")
            // The mock model answers every prompt with a greeting, which is no plan: asked twice, refused twice.
            let result = try await osprey.run(["run", "--home", home.path, "--seed-file", seed.path, "--json"])
            #expect(result.status == 1, "\(result.stderr)")
            let report = try JSONValue.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(report["evaluation_passed"] == false)
            #expect(report["phase_reached"] == "failed")
            #expect(
                report["error"]?.stringValue?.contains("the coordinator's plan was refused twice") == true,
                "\(report)"
            )
            let seeds = try await osprey.run(["events", "--home", home.path, "--type", "seed.*", "--json"])
            #expect(seeds.stdout.contains("seed.created"))
            // An interviewer that never rates the goal: the interview fails with the reason, and so does the run.
            let interview = try await osprey.run(["run", "--home", home.path, "--spec", "greet"], input: "go\n")
            #expect(interview.status == 1)
            #expect(interview.stderr.contains("did not rate the goal"), "\(interview.stderr)")
        }
    }

    /// A streamed chat completion whose whole answer is `text`.
    static func says(_ text: String) -> ScriptedHTTPServer.Response {
        .sse([
            JSONValue.object([
                "choices": [
                    ["index": 0, "delta": ["role": "assistant", "content": .string(text)], "finish_reason": "stop"]
                ]
            ]).canonicalJSON, "[DONE]",
        ])
    }

    @Test(.timeLimit(.minutes(2))) func aGoalIsInterviewedOnTheTerminalThenRunToAPassingVerdict() async throws {
        let osprey = try OspreyExecutable.locate()
        let seed = #"""
            {"goal": "Write hello.txt greeting the osprey.", "acceptance": [{"id": "file",
             "criterion": "hello.txt names the osprey", "check": {"regex": "osprey", "file": "hello.txt"}}]}
            """#
        let plan =
            #"{"steps": [{"name": "write", "persona": "dev", "prompt": "Write hello.txt.", "covers": ["file"]}]}"#
        let write =
            #"{"choices":[{"index":0,"finish_reason":"tool_calls","delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"write_file","arguments":"#
            + JSONValue.string(#"{"path":"hello.txt","content":"hello osprey"}"#).canonicalJSON + "}}]}}]}"
        let server = ScriptedHTTPServer(responses: [
            Self.says(#"{"goal": 0.5, "constraints": 0.5, "success": 0.5, "question": "Which file?"}"#),
            Self.says(#"{"goal": 1, "constraints": 1, "success": 1}"#),
            Self.says(seed),
            Self.says(plan),
            .sse([write, "[DONE]"]),
            Self.says("Wrote hello.txt."),
        ])
        try await server.run { server in
            let home = try TemporaryDirectory(prefix: "osprey-run-spec")
            defer { home.remove() }
            try TaskRecoveryTests.config(server, extra: #"approval = "autonomous""#).write(
                to: home.url.appendingPathComponent("config.toml"),
                atomically: true,
                encoding: .utf8
            )
            let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            defer { gateway.kill() }
            let result = try await osprey.run(
                ["run", "--home", home.path, "--spec", "greet the osprey in a file", "--json"],
                input: "hello.txt, containing the word osprey\n"
            )
            #expect(result.status == 0, "\(result.stderr)")
            // The question was asked on stderr; the report is the only thing on stdout.
            #expect(result.stderr.contains("? Which file?  (ambiguity 0.50"), "\(result.stderr)")
            let report = try JSONValue.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(report["evaluation_passed"] == true, "\(report)")
            #expect(report["generations"] == 1)
            let written = home.url.appendingPathComponent("workspace/hello.txt")
            #expect(try String(contentsOf: written, encoding: .utf8) == "hello osprey")
            // The user's answer reached the interviewer as data.
            #expect(server.requests.dropFirst().first?.body.contains("hello.txt, containing the word osprey") == true)
        }
    }
}
