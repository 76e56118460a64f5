import Foundation
import OspreyCore
import OspreyStore
import OspreyTools

extension SpecRunner {
    // MARK: - Speculative branches

    /// Runs the plan `settings.branches` times side by side, each in a copy of the workspace of its own
    /// (`branches/<task>/gN-bK` beside it, copied with `cp --reflink=auto`: copy-on-write where the file system can),
    /// evaluates each with the same stages, applies the best to the workspace (after a checkpoint) and records the
    /// others. The best passes the most criteria (a critical one counts twice); a tie goes to the first. The
    /// generation's evaluation is the best branch's, with every branch's summary.
    func branches(
        _ plan: SpecPlan,
        seed: SeedRecord,
        generation: Int,
        of task: TaskRecord,
        settings: Settings,
        workflows: WorkflowRunner,
        states: [String: WorkflowStepRecord]
    ) async throws -> JSONValue {
        let name = "g\(generation)-evaluate"
        if let recorded = try Self.recorded(name, in: states) { return recorded }
        guard let workspace else { throw WorkflowRunner.Failure(description: "branches need the workspace") }
        let root = workspace.deletingLastPathComponent().appendingPathComponent("branches")
            .appendingPathComponent(task.id.rawValue)
        let count = settings.branches
        let evaluations = try await withThrowingTaskGroup(of: (Int, JSONValue, URL).self) { group in
            for branch in 1...count {
                group.addTask {
                    let prefix = "g\(generation)-b\(branch)-"
                    let directory = root.appendingPathComponent("g\(generation)-b\(branch)")
                    // A resumed run keeps the copy its branch was working in.
                    if !FileManager.default.fileExists(atPath: directory.path) {
                        try await Self.copy(workspace, to: directory)
                    }
                    var alternative = workflows
                    alternative.workspace = directory.path
                    let report = try await execute(
                        plan.workflow(
                            prefix: prefix,
                            seed: seed,
                            note:
                                "(This is alternative \(branch) of \(count), worked in a copy of the workspace of its "
                                + "own; the best alternative is kept.)"
                        ),
                        of: task,
                        workflows: alternative
                    )
                    let evaluation = try await evaluate(
                        seed,
                        report: report,
                        name: "\(prefix)evaluate",
                        of: task,
                        settings: settings,
                        workflows: alternative,
                        states: states,
                        announce: false
                    )
                    return (branch, evaluation, directory)
                }
            }
            var found: [(Int, JSONValue, URL)] = []
            for try await evaluation in group { found.append(evaluation) }
            return found.sorted { $0.0 < $1.0 }
        }
        func score(_ evaluation: JSONValue) -> Int {
            (evaluation["results"]?.arrayValue ?? []).filter { $0["status"] == "passed" }
                .reduce(0) { $0 + ($1["critical"] == true ? 2 : 1) }
        }
        guard let best = evaluations.max(by: { (score($0.1), -$0.0) < (score($1.1), -$1.0) }) else {
            throw WorkflowRunner.Failure(description: "no branch ran")
        }
        _ = try await checkpoints?.create(
            "before applying branch \(best.0) of generation \(generation) of spec run \(task.id.rawValue)"
        )
        try await Self.apply(best.2, to: workspace)
        var chosen = best.1.objectValue ?? [:]
        chosen["branch"] = .int(best.0)
        chosen["branches"] = .array(
            evaluations.map { branch, evaluation, directory in
                [
                    "branch": .int(branch), "evaluation_passed": evaluation["evaluation_passed"] ?? false,
                    "score": .int(score(evaluation)), "applied": .bool(branch == best.0),
                    "workspace": .string(directory.path),
                    "failed": .array(
                        (evaluation["results"]?.arrayValue ?? []).filter { $0["status"] != "passed" }
                            .compactMap { $0["id"] }
                    ),
                ]
            }
        )
        let evaluation = JSONValue.object(chosen)
        try await record(evaluation, as: name, of: task, announce: true)
        return evaluation
    }

    /// Copies a directory's contents into a new one (copy-on-write where the file system can).
    static func copy(_ source: URL, to target: URL) async throws {
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        try await run("/bin/cp", ["-a", "--reflink=auto", source.path + "/.", target.path])
    }

    /// Makes `workspace` hold what `branch` holds: files the branch removed are removed, the rest copied over.
    static func apply(_ branch: URL, to workspace: URL) async throws {
        let files = FileManager.default.enumerator(at: workspace, includingPropertiesForKeys: nil)
        var removed: [URL] = []
        while let file = files?.nextObject() as? URL {
            let relative = String(file.standardizedFileURL.path.dropFirst(workspace.standardizedFileURL.path.count))
            if !FileManager.default.fileExists(atPath: branch.path + relative) {
                removed.append(file)
                files?.skipDescendants()
            }
        }
        for file in removed { try FileManager.default.removeItem(at: file) }
        try await run("/bin/cp", ["-a", "--reflink=auto", branch.path + "/.", workspace.path])
    }

    /// Runs a program to its end without holding a thread of the pool; an exit status other than 0 is an error.
    static func run(_ program: String, _ arguments: [String]) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        let status: Int32 = try await withCheckedThrowingContinuation { done in
            process.terminationHandler = { done.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { done.resume(throwing: error) }
        }
        guard status == 0 else {
            let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw WorkflowRunner.Failure(description: "\(program) \(arguments.joined(separator: " ")): \(said)")
        }
    }
}
