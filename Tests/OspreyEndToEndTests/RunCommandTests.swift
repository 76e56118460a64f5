import Foundation
import OspreyCore
import OspreyTesting
import Testing

/// `osprey run` against a real gateway process: the seed file stored, the spec run followed to its end, the report
/// printed and the exit code saying whether the evaluation passed.
struct RunCommandTests {
    @Test(.timeLimit(.minutes(2))) func aRunWhoseCoordinatorCannotPlanEndsWithExitOneAndSaysWhy() async throws {
        let osprey = try OspreyExecutable.locate()
        try await CLITests.mockModel.run { server in
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
}
