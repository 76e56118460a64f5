import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore

/// `osprey run`: a spec-first run of a seed (plan, execute, evaluate, evolve), followed to its end.
struct RunCommand: GatewayClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a seed spec-first (plan, execute, evaluate, evolve) and wait for the verdict.",
        discussion: """
            The seed is a stored one (--seed ID), a document to store first (--seed-file FILE, JSON: goal, \
            constraints, acceptance with a check each, ontology, non_goals), or the end of an interview about a goal \
            (--spec "goal": each question is asked on stderr and answered on stdin; "go", or the end of stdin, \
            writes the seed now). Each phase is printed as it ends. The exit code is 0 only when the evaluation \
            passed; --json prints the run's report (evaluation_passed, phase_reached, stopped, generations, drift, \
            the evaluations with their evidence).
            """
    )
    @OptionGroup var options: HomeOptions
    @Option(help: "A stored seed's id.") var seed: String?
    @Option(help: "A seed document (JSON) to store and run.") var seedFile: String?
    @Option(help: "A goal to interview about until it is a seed, then run.") var spec: String?
    @Option(help: "autonomous, supervised (approve each generation's seed and plan) or interactive (and each subtask).")
    var mode = "autonomous"
    @Option(help: "The agent that runs it.") var agent = "default"
    @Option(help: "Most generations (1-10).") var maxGenerations = 3
    @Option(help: "Alternative executions of each generation, each in a copy of the workspace (1-5).") var branches = 1
    @Option(help: "Comma-separated agents whose judges must agree on critical criteria.") var judges: String?
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(help: "Print the run's task id and return; `osprey workflows show ID` follows it.") var detach = false

    func validate() throws {
        guard [seed, seedFile, spec].compactMap(\.self).count == 1 else {
            throw ValidationError("Give one of --seed, --seed-file or --spec.")
        }
    }

    func run(_ gateway: GatewayClient) async throws {
        var id = seed ?? ""
        if let seedFile {
            let document: JSONValue
            do {
                document = try JSONValue.parse(String(contentsOfFile: seedFile, encoding: .utf8))
            } catch let error as JSONParseError {
                throw ValidationError("\(seedFile) is not JSON: \(error)")
            } catch {
                throw ValidationError("cannot read \(seedFile): \(error.localizedDescription)")
            }
            id = try await gateway.request(.POST, "/api/seeds", body: ["document": document])["id"]?.stringValue ?? ""
        }
        if let spec { id = try await interview(spec, gateway) }
        var body: [String: JSONValue] = [
            "agent": .string(agent), "max_generations": .int(maxGenerations), "mode": .string(mode),
            "branches": .int(branches),
        ]
        if let judges { body["judges"] = .array(judges.split(separator: ",").map { .string(String($0)) }) }
        let task = try await gateway.request(.POST, "/api/seeds/\(id)/run", body: .object(body))
        let taskID = task["id"]?.stringValue ?? ""
        if detach { return print(taskID) }
        if !json { FileHandle.standardError.write(Data("spec run \(taskID) of seed \(id)\n".utf8)) }
        var seen: Set<String> = []
        var finished = task
        while true {
            // The run's phases and its task in one answer.
            let run = try await gateway.request(.GET, "/api/workflows/runs/\(taskID)")
            finished = run["task"] ?? finished
            if !json { printPhases(run, seen: &seen) }
            if ["completed", "failed", "cancelled"].contains(finished["status"]?.stringValue ?? "") { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        guard finished["status"] == "completed", let text = finished["result"]?.stringValue,
            let report = try? JSONValue.parse(text)
        else {
            let error = finished["error"]?.stringValue ?? "no report"
            if json {
                print(
                    JSONValue.object([
                        "evaluation_passed": false, "phase_reached": "failed", "task": .string(taskID),
                        "error": .string(error),
                    ]).canonicalJSON
                )
            } else {
                print("the run \(finished["status"]?.stringValue ?? "ended"): \(error)")
            }
            throw ExitCode(1)
        }
        if json {
            print(report.canonicalJSON)
        } else {
            let passed = report["evaluation_passed"] == true
            print(
                "\(passed ? "passed" : "not passed"): \(report["generations"]?.intValue ?? 0) generation(s), "
                    + "stopped: \(report["stopped"]?.stringValue ?? "-"), seed \(report["seed"]?.stringValue ?? "-"), "
                    + String(format: "drift %.3f", report["drift"]?.doubleValue ?? 0)
            )
            for result in report["evaluations"]?.arrayValue?.last?["results"]?.arrayValue ?? [] {
                print(
                    "  \(result["status"]?.stringValue ?? "?")  \(result["id"]?.stringValue ?? "?")  "
                        + String((result["evidence"]?.stringValue ?? "").prefix(160))
                )
            }
        }
        if report["evaluation_passed"] != true { throw ExitCode(1) }
    }

    /// Interviews about `goal` until it is a seed: each question on stderr, each answer a line of stdin.
    func interview(_ goal: String, _ gateway: GatewayClient) async throws -> String {
        var state = try await gateway.request(
            .POST,
            "/api/seeds/interview",
            body: ["goal": .string(goal), "agent": .string(agent)]
        )
        while state["status"] == "asking", let id = state["id"]?.stringValue {
            let question = state["question"]?.stringValue ?? "?"
            let ambiguity = String(format: "%.2f", state["ambiguity"]?.doubleValue ?? 1)
            FileHandle.standardError.write(
                Data("? \(question)  (ambiguity \(ambiguity); 'go' to write the seed now)\n> ".utf8)
            )
            // Read on a thread of its own: the cooperative pool is not blocked waiting for a person.
            let line = await withCheckedContinuation { (answer: CheckedContinuation<String?, Never>) in
                Thread.detachNewThread { answer.resume(returning: readLine(strippingNewline: true)) }
            }
            let body: JSONValue = line.map { ["answer": .string($0.isEmpty ? "go" : $0)] } ?? ["go": true]
            state = try await gateway.request(.POST, "/api/seeds/interview/\(id)/answer", body: body)
        }
        guard let seed = state["seed"]?.stringValue else { throw CLIError("the interview ended without a seed") }
        if !json {
            FileHandle.standardError.write(
                Data("seed \(seed): \(state["document"]?["goal"]?.stringValue ?? "")\n".utf8)
            )
        }
        return seed
    }

    /// Prints each phase of the run (its workflow steps) once, as it ends.
    func printPhases(_ run: JSONValue, seen: inout Set<String>) {
        for step in run["steps"]?.arrayValue ?? [] {
            guard let name = step["name"]?.stringValue, let status = step["status"]?.stringValue,
                status != "running", seen.insert(name).inserted
            else { continue }
            print("\(name): \(status)")
        }
    }
}
