import Foundation
import GRDB
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

struct StoreRecordTests {
    /// The row of `table` with this id, as SQLite holds it.
    static func row(of table: String, id: String, in store: Store) async throws -> [String: DatabaseValue] {
        try await store.writer.read { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT * FROM \(table) WHERE id = ?", arguments: [id]))
            return Dictionary(row.map { ($0, $1) }, uniquingKeysWith: { first, _ in first })
        }
    }

    /// The instant a column holds as ``WireFormat`` text; nil for anything else.
    static func date(_ value: DatabaseValue?) -> Date? {
        value.flatMap(String.fromDatabaseValue).flatMap(WireFormat.date(from:))
    }

    @Test func statusesAndScopesAreStoredAndSentAsTheirNames() throws {
        #expect(TaskStatus.allCases.map(\.rawValue) == ["queued", "running", "completed", "failed", "cancelled"])
        #expect(ApprovalStatus.allCases.map(\.rawValue) == ["pending", "granted", "denied", "expired", "used"])
        #expect(ApprovalScope.allCases.map(\.rawValue) == ["once", "session"])
        #expect(try WireFormat.string([TaskStatus.cancelled]) == #"["cancelled"]"#)
        #expect(try WireFormat.string([ApprovalStatus.used]) == #"["used"]"#)
        #expect(try WireFormat.string([ApprovalScope.session]) == #"["session"]"#)
        #expect(TaskStatus.running.sqlValue == .text("running"))
        #expect(ApprovalStatus.fromSQL(.text("granted")) == .granted)
        #expect(ApprovalScope.fromSQL(.text("forever")) == nil)
        #expect("\(TaskStatus.failed) \(ApprovalScope.once)" == "failed once")
    }

    @Test func aTaskRowKeepsItsTextColumnsAndReadsBackAsTheRecord() async throws {
        // Given a finished task with tools
        let store = try Store.inMemory()
        let submitted = try await store.tasks.submit(
            Tasks.Draft(title: "t", instructions: "x", tools: ["read_file", "a/b"], maxCostUSD: 1.5, tainted: true),
            actor: .user("test")
        )
        _ = try await store.tasks.start(submitted.id)
        let task = try await store.tasks.finish(submitted.id, result: "done", error: nil, tokens: 3, costUSD: 0)
        // When its row is read as SQLite holds it
        let row = try await Self.row(of: "tasks", id: task.id.rawValue, in: store)
        // Then statuses and times are text, tools canonical JSON, taint an integer
        #expect(row["status"] == "completed".databaseValue)
        #expect(Self.date(row["created_at"]) == task.createdAt)
        #expect(Self.date(row["finished_at"]) == task.finishedAt && task.finishedAt != nil)
        #expect(row["tools"] == #"["read_file","a/b"]"#.databaseValue)
        #expect(row["tainted"] == 1.databaseValue)
        #expect(task.status == .completed && task.tools == ["read_file", "a/b"] && task.tainted)
        #expect(task.maxCostUSD == 1.5 && task.attempts == 1 && task.tokens == 3 && task.startedAt != nil)
        #expect(try await store.tasks.list(status: .completed) == [task])
    }

    @Test func aTaskWithEveryOptionalColumnSetReadsBackWhole() async throws {
        // Given a sub-task with every optional column set, and one with none
        let store = try Store.inMemory()
        let parent = try await store.tasks.submit(Tasks.Draft(title: "p", instructions: "x"), actor: .user("test"))
        var draft = Tasks.Draft(title: "c", instructions: "y", agent: "helper", priority: 9, parent: parent.id)
        draft.workflow = "wf"
        draft.context = "ctx-1"
        draft.persona = "critic"
        draft.workspace = "/tmp/branch"
        let child = try await store.tasks.submit(draft, actor: .user("test"))
        _ = try await store.tasks.start(child.id)
        // When they are read back from their rows
        let read = try await store.tasks.get(child.id)
        let bare = try await store.tasks.get(parent.id)
        // Then every column comes back as written
        var expected = child
        expected.status = .running
        expected.attempts = 1
        expected.startedAt = read.startedAt
        expected.heartbeatAt = read.heartbeatAt
        #expect(read == expected)
        #expect(read.parent == parent.id && read.depth == 1 && read.agent == "helper" && read.priority == 9)
        #expect(read.workflow == "wf" && read.context == "ctx-1" && read.persona == "critic")
        #expect(read.workspace == "/tmp/branch" && read.tools == nil)
        #expect(read.startedAt != nil && read.heartbeatAt != nil && read.finishedAt == nil)
        #expect(bare == parent && bare.parent == nil && bare.seed == nil && bare.startedAt == nil)
    }

    @Test func aTaskRowThatDoesNotParseIsAClearError() async throws {
        let store = try Store.inMemory()
        let submitted = try await store.tasks.submit(Tasks.Draft(title: "t", instructions: "x"), actor: .user("test"))
        let task = try await store.tasks.get(submitted.id)
        let created = try #require(try await Self.row(of: "tasks", id: task.id.rawValue, in: store)["created_at"])
        for (column, value) in [("status", "sleeping"), ("created_at", "yesterday"), ("tools", "read_file")] {
            try await store.writer.write { db in
                // The triggers guard the ledger, not the tasks table: a hand edit can break a row.
                try db.execute(
                    sql: "UPDATE tasks SET \(column) = ? WHERE id = ?",
                    arguments: [value, task.id.rawValue]
                )
            }
            await #expect(throws: StoreError.self) { try await store.tasks.get(task.id) }
            try await store.writer.write { db in
                try db.execute(
                    sql: "UPDATE tasks SET status = 'queued', created_at = ?, tools = NULL WHERE id = ?",
                    arguments: [created, task.id.rawValue]
                )
            }
        }
        #expect(try await store.tasks.get(task.id) == task)
    }

    @Test func aSessionRowWithATimestampThatDoesNotParseIsAnErrorNamingTheColumn() async throws {
        let store = try Store.inMemory()
        let session = try await store.sessions.create(agent: "main", actor: .user("test"))
        try await store.writer.write { db in
            try db.execute(
                sql: "UPDATE sessions SET updated_at = 'yesterday' WHERE id = ?",
                arguments: [session.id.rawValue]
            )
        }
        await #expect {
            try await store.sessions.get(session.id)
        } throws: { error in
            "\(error)".contains("sessions.updated_at is not a timestamp: yesterday")
        }
    }

    @Test func anApprovalRowKeepsItsTextColumnsAndReadsBackAsTheRecord() async throws {
        let store = try Store.inMemory()
        let pending = try await store.approvals.request(ApprovalSamples.draft, lifetime: 60)
        let granted = try await store.approvals.decide(pending.id, grant: true, scope: .session, by: .user("alice"))
        let row = try await Self.row(of: "approvals", id: granted.id.rawValue, in: store)
        #expect(row["status"] == "granted".databaseValue && row["scope"] == "session".databaseValue)
        #expect(row["session"] == "ses_1".databaseValue)
        #expect(Self.date(row["decided_at"]) == granted.decidedAt && granted.decidedAt != nil)
        #expect(granted.session == Session.ID("ses_1") && granted.scope == .session && granted.decidedAt != nil)
        #expect(granted.json["session"] == "ses_1" && granted.json["scope"] == "session")
        #expect(granted.json["status"] == "granted")
    }

    @Test func aRoutinesStoredObservationsKeepTheirNumberTypes() async throws {
        // Given a schedule whose last observations hold a double with no fraction and an integer
        let store = try Store.inMemory()
        let schedule = try await store.schedules.add(
            Schedules.Draft(spec: "@hourly", title: "t", instructions: "x"),
            actor: .user("test")
        )
        let state: [String: JSONValue] = ["load": .double(3.0), "code": .int(3)]
        try await store.schedules.heartbeat(schedule.id, at: Date(), next: nil, state: state, changed: [], task: nil)
        // Then they read back exactly: a routine compares them with its next observations
        #expect(try await store.schedules.get(schedule.id).state == state)
    }

    @Test func theTriggerSchedulesFollowEveryChange() async throws {
        // Given a time schedule and an event-triggered one
        let store = try Store.inMemory()
        _ = try await store.schedules.add(Schedules.Draft(spec: "@hourly", title: "t", instructions: "x"), actor: .test)
        let trigger = try await store.schedules.add(
            Schedules.Draft(triggerEvent: "task.failed", title: "on failure", instructions: "x"),
            actor: .test
        )
        // Then only the trigger is matched against events, and a second read (from memory) says the same
        #expect(try await store.schedules.triggers().map(\.id) == [trigger.id])
        #expect(try await store.schedules.triggers().map(\.id) == [trigger.id])
        // And a firing, a new trigger and a removal show at once
        let fired = Date(timeIntervalSince1970: 1_800_000_000)
        _ = try await store.schedules.fire(trigger.id, claim: .manual, at: fired, next: nil, task: nil, reason: "test")
        #expect(try await store.schedules.triggers().first?.lastFiredAt == fired)
        let second = try await store.schedules.add(
            Schedules.Draft(triggerEvent: "memory.*", title: "on memory", instructions: "x"),
            actor: .test
        )
        #expect(Set(try await store.schedules.triggers().map(\.id)) == [trigger.id, second.id])
        try await store.schedules.remove(trigger.id, actor: .test)
        #expect(try await store.schedules.triggers().map(\.id) == [second.id])
    }
}
