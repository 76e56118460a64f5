public import Foundation
public import OspreyCore

/// Where one step of a workflow run stands.
public struct WorkflowStepRecord: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable {
        case running, done, failed, blocked
    }

    public var name: String
    public var status: Status
    /// The task a prompt step runs as.
    public var child: TaskRecord.ID?
    public var output: String?
    public var error: String?
    /// Whether its output came from untrusted work (the steps that read it run tainted).
    public var untrusted: Bool
    public var updatedAt: Date

    public init(
        name: String,
        status: Status,
        child: TaskRecord.ID? = nil,
        output: String? = nil,
        error: String? = nil,
        untrusted: Bool = false,
        updatedAt: Date = Date()
    ) {
        self.name = name
        self.status = status
        self.child = child
        self.output = output
        self.error = error
        self.untrusted = untrusted
        self.updatedAt = updatedAt
    }

    init(row: SQLRow) {
        name = row["name"]
        status = Status(rawValue: row["status"]) ?? .failed
        child = (row["child"] as String?).map { TaskRecord.ID($0) }
        output = row["output"]
        error = row["error"]
        untrusted = (row["untrusted"] as Int?) == 1
        updatedAt = WireFormat.date(from: row["updated_at"]) ?? Date(timeIntervalSince1970: 0)
    }

    /// The API form.
    public var json: JSONValue {
        [
            "name": .string(name), "status": .string(status.rawValue),
            "child": child.map { .string($0.rawValue) } ?? .null,
            "output": output.map(JSONValue.string) ?? .null, "error": error.map(JSONValue.string) ?? .null,
            "untrusted": .bool(untrusted), "updated_at": .string(WireFormat.timestamp(updatedAt)),
        ]
    }
}

/// The steps of workflow runs: each change commits with its `workflow.step.*` event, and a prompt step's task is
/// submitted in the same transaction that marks the step running (so a crash can neither lose it nor run it twice).
public struct WorkflowSteps: Sendable {
    let writer: GroupCommit
    let ledger: Ledger
    let tasks: Tasks

    /// The steps of the workflow run `task` that have started, by name.
    public func steps(of task: TaskRecord.ID) async throws -> [String: WorkflowStepRecord] {
        try await writer.read { db in
            let rows = try db.rows("SELECT * FROM workflow_steps WHERE task = ?", [task.rawValue])
            return Dictionary(
                uniqueKeysWithValues: rows.map { row in
                    let step = WorkflowStepRecord(row: row)
                    return (step.name, step)
                }
            )
        }
    }

    /// Records where a step stands (a tool or command step starting, any step finishing).
    public func record(_ step: WorkflowStepRecord, of task: TaskRecord.ID, session: Session.ID) async throws {
        try await writer.transaction { db in try save(step, of: task, session: session, in: db) }
    }

    /// Submits a prompt step's task (a sub-task of the run) and marks the step running with it, at once.
    public func startPrompt(
        _ step: String,
        of task: TaskRecord.ID,
        session: Session.ID,
        draft: Tasks.Draft,
        actor: Principal
    ) async throws -> TaskRecord {
        let title = try Tasks.validate(draft)
        return try await writer.transaction { db in
            let child = try tasks.insert(draft, title: title, actor: actor, maxDepth: Tasks.maxDepth, in: db)
            try save(
                WorkflowStepRecord(name: step, status: .running, child: child.id),
                of: task,
                session: session,
                in: db
            )
            return child
        }
    }

    func save(_ step: WorkflowStepRecord, of task: TaskRecord.ID, session: Session.ID, in db: SQLConnection) throws {
        try db.execute(
            """
            INSERT INTO workflow_steps (task, name, status, child, output, error, untrusted, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (task, name) DO UPDATE SET status = excluded.status,
                child = coalesce(excluded.child, workflow_steps.child), output = excluded.output,
                error = excluded.error, untrusted = excluded.untrusted, updated_at = excluded.updated_at
            """,
            [
                task.rawValue, step.name, step.status.rawValue, step.child?.rawValue, step.output, step.error,
                step.untrusted ? 1 : 0, WireFormat.timestamp(step.updatedAt),
            ]
        )
        let kind: Event.Kind =
            switch step.status {
            case .running: .workflowStepStarted
            case .done: .workflowStepCompleted
            case .failed, .blocked: .workflowStepFailed
            }
        var payload: [String: JSONValue] = ["step": .string(step.name), "status": .string(step.status.rawValue)]
        if let child = step.child { payload["child"] = .string(child.rawValue) }
        if let error = step.error { payload["error"] = .string(String(error.prefix(2000))) }
        if let output = step.output { payload["output_bytes"] = .int(output.utf8.count) }
        _ = try ledger.append(
            [EventDraft(type: kind, actor: .system, session: session, task: task, payload: .object(payload))],
            in: db
        )
    }
}
