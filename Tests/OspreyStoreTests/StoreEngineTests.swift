import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

/// The same bodies on SQLite and on PostgreSQL: every repository the gateway uses, through the one SQL they share.
struct StoreEngineTests {
    @Test(arguments: StoreEngine.allCases)
    func sessionsKeepTheirMessagesInOrderAndTheLedgerRecordsAndVerifiesThem(engine: StoreEngine) async throws {
        try await engine.withStore { store in
            let session = try await store.sessions.create(agent: "default", title: "first", actor: .user("test"))
            var seqs: [Int] = []
            for text in ["one", "two", "three"] {
                let (stored, event) = try await store.sessions.append(
                    Message(role: .user, content: [.text(text)]),
                    to: session.id,
                    actor: .user("test")
                )
                seqs.append(stored.seq)
                #expect(event.session == session.id)
            }
            #expect(seqs == seqs.sorted() && Set(seqs).count == 3)
            let messages = try await store.sessions.messages(of: session.id)
            #expect(messages.map(\.message.text) == ["one", "two", "three"])
            let listed = try await store.sessions.list()
            #expect(listed.map(\.id) == [session.id])
            #expect(try await store.sessions.get(session.id).title == "first")
            // The chain: session.created and three messages, in order, signed, verified
            let events = try await store.ledger.events(after: 0, filter: EventFilter(session: session.id))
            #expect(events.map(\.type.rawValue) == ["session.created", "message.user", "message.user", "message.user"])
            #expect(events.map(\.seq) == Array(1...4))
            let verification = try await store.ledger.verify()
            #expect(verification.ok && verification.count == 4)
            #expect(try await store.ledger.witnessLine()?.seq == 4)
            // Deleting the session takes its messages with it (the cascade), the events stay
            try await store.sessions.delete(session.id, actor: .user("test"))
            await #expect(throws: StoreError.self) { try await store.sessions.get(session.id) }
            #expect(try await store.sessions.count() == 0)
            #expect(try await store.ledger.lastSeq() == 5)
            #expect(try await store.ledger.verify().ok)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func tokensApprovalsAndTheirEventsChangeTogether(engine: StoreEngine) async throws {
        try await engine.withStore { store in
            let (token, secret) = try await store.tokens.create(
                name: "ci",
                role: .operator,
                scopes: ["sessions", "events"],
                actor: .user("test")
            )
            #expect(!secret.isEmpty)
            #expect(try await store.tokens.active().map(\.id).contains(token.id))
            #expect(try await store.tokens.list().first { $0.id == token.id }?.scopes == ["sessions", "events"])
            try await store.tokens.revoke(token.id, actor: .user("test"))
            #expect(!(try await store.tokens.active().map(\.id).contains(token.id)))

            let session = try await store.sessions.create(actor: .user("test"))
            let request = ApprovalRequest(
                agent: "default",
                session: session.id,
                callID: "call_1",
                tool: "shell",
                arguments: #"{"command":"ls"}"#,
                argumentsHash: "h1",
                risk: .exec,
                rule: "approval",
                reason: "runs a command"
            )
            let approval = try await store.approvals.request(request, lifetime: 60)
            #expect(try await store.approvals.pendingCount() == 1)
            let granted = try await store.approvals.decide(
                approval.id,
                grant: true,
                scope: .session,
                by: .user("alice")
            )
            #expect(granted.status == .granted && granted.scope == .session && granted.decidedBy == "user:alice")
            let grant = try await store.approvals.sessionGrant(session: session.id, tool: "shell", argumentsHash: "h1")
            #expect(grant?.id == approval.id)
            await #expect(throws: StoreError.self) {
                try await store.approvals.decide(approval.id, grant: false, by: .user("bob"))
            }
            #expect(try await store.approvals.list(status: .granted).map(\.id) == [approval.id])
            let types = try await store.ledger.events(after: 0, filter: EventFilter(type: "approval.*")).map(\.type)
            #expect(types == [.approvalRequested, .approvalGranted])
            #expect(try await store.ledger.verify().ok)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func tasksRunThroughTheirStatesAndSpendingSumsPerDayAndModel(engine: StoreEngine) async throws {
        try await engine.withStore { store in
            let task = try await store.tasks.submit(
                Tasks.Draft(title: "t", instructions: "do it", tools: ["read_file"], maxCostUSD: 1.5),
                actor: .user("test")
            )
            #expect(task.status == .queued && task.tools == ["read_file"])
            let running = try await store.tasks.start(task.id)
            #expect(running.status == .running && running.attempts == 1)
            try await store.tasks.heartbeat(task.id)
            try await store.spending.record(
                Spending.Charge(
                    agent: "default",
                    tokens: 120,
                    costUSD: 0.25,
                    event: EventDraft(
                        type: .llmCall,
                        actor: .agent("default"),
                        task: task.id,
                        payload: [
                            "provider": "mock", "model": "m1", "tokens_in": 100, "tokens_out": 20, "cost_usd": 0.25,
                        ]
                    )
                )
            )
            let finished = try await store.tasks.finish(task.id, result: "done", error: nil, tokens: 0, costUSD: 0)
            #expect(finished.status == .completed && finished.result == "done")
            #expect(try await store.tasks.get(task.id).tokens == 120)
            #expect(try await store.tasks.counts() == [.completed: 1])
            #expect(try await store.tasks.unfinished().isEmpty)
            // (two days: a run across midnight UTC records on one day and reads on the next)
            let spent = try await store.spending.daily(days: 2).filter { $0.agent == "default" }
            #expect(spent.map(\.total.tokens).reduce(0, +) == 120)
            let days = try await store.spending.dailyByModel(days: 2)
            #expect(Set(days.map(\.model)) == ["mock/m1"])
            #expect(days.map(\.total.tokens).reduce(0, +) == 120 && days.map(\.total.costUSD).reduce(0, +) == 0.25)
            // A cancelled task cannot finish again
            let second = try await store.tasks.submit(Tasks.Draft(title: "u", instructions: "x"), actor: .user("test"))
            #expect(try await store.tasks.cancel(second.id, actor: .user("test")).status == .cancelled)
            #expect(try await store.tasks.list().count == 2)
            #expect(try await store.ledger.verify().ok)
        }
    }

    /// A ledger written before providers' usage was range-checked may hold `llm.call` events of 2^63 tokens, and
    /// SQLite a day's total that overflowed into a REAL: reading them was a 500 (the sum overflowed) and a stopped
    /// gateway (a REAL where a count is read); now each call counts at most 100,000,000 and a day 10^15.
    @Test(arguments: StoreEngine.allCases)
    func spendingAnUncheckedProviderReportedIsReadWithinBounds(engine: StoreEngine) async throws {
        try await engine.withStore { store in
            for _ in 0..<2 {
                try await store.spending.record(
                    Spending.Charge(
                        agent: "default",
                        tokens: 1,
                        costUSD: 0,
                        event: EventDraft(
                            type: .llmCall,
                            actor: .agent("default"),
                            payload: ["provider": "mock", "model": "m1", "tokens_in": .int(Int.max), "tokens_out": -5]
                        )
                    )
                )
            }
            if engine == .sqlite {
                // The day's total as an older version left it: an addition past Int64, which SQLite keeps as a REAL
                try await store.transaction { db in
                    try db.execute("UPDATE usage_daily SET tokens = 9223372036854775807 + 9223372036854775807")
                }
            }
            let days = try await store.spending.dailyByModel(days: 2)
            #expect(days.map(\.total.tokens) == [200_000_000])
            let expected = engine == .sqlite ? 1_000_000_000_000_000 : 2
            #expect(try await store.spending.daily(days: 2).map(\.total.tokens) == [expected])
            #expect(try await store.spending.today(agent: "default").tokens == expected)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func schedulesIncidentsAndMemoriesAreStoredAndFound(engine: StoreEngine) async throws {
        try await engine.withStore { store in
            let schedule = try await store.schedules.add(
                Schedules.Draft(name: "nightly", spec: "@every 1h", title: "t", instructions: "x"),
                actor: .user("test")
            )
            #expect(try await store.schedules.list().map(\.id) == [schedule.id])
            #expect(try await store.schedules.setPaused(schedule.id, true, actor: .user("test")).paused)
            try await store.schedules.remove(schedule.id, actor: .user("test"))
            #expect(try await store.schedules.list().isEmpty)

            let incident = try await store.incidents.create(title: "disk", severity: "high", actor: .user("test"))
            _ = try await store.incidents.step(
                incident.id,
                kind: "observation",
                text: "looked",
                events: [1],
                command: nil,
                actor: .user("test")
            )
            #expect(try await store.incidents.get(incident.id).steps.count == 1)

            let entry = MemorySamples.osprey
            try await store.memories.index(entry, event: nil)
            #expect(try await store.memories.contains("mem_1"))
            #expect(try await store.memories.keywordSearch(["fish"], limit: 5) == ["mem_1"])
            #expect(try await store.memories.keywordSearch(["diving"], limit: 5) == ["mem_1"])  // stemmed
            // Stop words and punctuation find nothing and are no error (PostgreSQL's tsquery syntax included)
            #expect(try await store.memories.keywordSearch(["the", "of", "'", "&", "|", "!", ":*"], limit: 5).isEmpty)
            #expect(try await store.memories.entries(["mem_1"])["mem_1"]?.body == entry.body)
            let vector = Data([1, 2, 3, 4])
            #expect(try await store.memories.unembeddedCount(by: "m") == 1)
            try await store.memories.setEmbedding(vector, by: "m", for: "mem_1")
            #expect(try await store.memories.unembeddedCount(by: "m") == 0)
            #expect(try store.memories.embeddings(by: "m").map(\.embedding) == [vector])
            try await store.memories.cacheQueryEmbedding(vector, for: "q", by: "m")
            try await store.memories.cacheQueryEmbedding(vector + vector, for: "q", by: "m")
            #expect(try await store.memories.queryEmbedding("q", by: "m") == vector + vector)
            try await store.memories.remove("mem_1", event: nil)
            #expect(try await store.memories.keywordSearch(["fish"], limit: 5).isEmpty)
            #expect(try await store.counts() == ["sessions": 0, "memories": 0])
        }
    }

    @Test func aPostgreSQLStoreRefusesToChangeAnEventAndSaysWhyItCannotConnect() async throws {
        try await StoreEngine.postgres.withStore { store in
            try await store.ledger.append(EventDraft(type: Event.Kind(rawValue: "test.one")))
            await #expect(throws: StoreError.self) {
                try await store.transaction { db in try db.execute("UPDATE events SET payload = '{}' WHERE seq = 1") }
            }
            #expect(try await store.ledger.verify().ok)
            #expect(try await store.writerSynchronous() == 2)
        }
        // Nothing listens on this socket folder: a clear error, not a hang
        let target = try PostgresTarget(url: "postgres://osprey@/none?host=/tmp/osprey-no-server")
        let error = await #expect(throws: StoreError.self) {
            _ = try await Store.open(postgres: target, node: "n", ledgerKey: Array(repeating: 1, count: 32))
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("PostgreSQL"))
    }
}
