import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

struct SessionStepTests {
    static func charge(tokens: Int, cost: Double, session: Session.ID) -> Spending.Charge {
        Spending.Charge(
            agent: "default",
            tokens: tokens,
            costUSD: cost,
            event: EventDraft(type: .llmCall, actor: .agent("default"), session: session, payload: [:])
        )
    }

    @Test func aStepStoresItsChargeEventsMessagesAndFollowUpsInThatOrder() async throws {
        // Given a session
        let store = try Store.inMemory()
        let session = try await store.sessions.create(actor: .user("test"))
        // When one step with every part is recorded
        let step = Sessions.Step(
            charge: Self.charge(tokens: 30, cost: 0.25, session: session.id),
            events: [EventDraft(type: .toolCallCompleted, actor: .agent("default"), payload: [:])],
            messages: [.assistant("Done.")],
            followUps: [EventDraft(type: .toolCallRequested, actor: .agent("default"), payload: [:])]
        )
        try await store.sessions.record(step, in: session.id, actor: .agent("default"))
        // Then the ledger has them in that order, the transcript the message, and the day the spending
        let types = try await store.ledger.events().map(\.type.rawValue)
        #expect(
            types == ["session.created", "llm.call", "tool.call.completed", "message.assistant", "tool.call.requested"]
        )
        #expect(try await store.sessions.messages(of: session.id).map(\.message) == [.assistant("Done.")])
        // (yesterday's row too: a run across midnight UTC records on one day and reads on the next)
        let spent = try await store.spending.daily(days: 2).filter { $0.agent == "default" }.map(\.total)
        #expect(spent.map(\.tokens).reduce(0, +) == 30 && spent.map(\.costUSD).reduce(0, +) == 0.25)
    }

    @Test(arguments: StoreEngine.allCases)
    func aStepThatFailsLeavesNoChargeAndNoEvent(engine: StoreEngine) async throws {
        try await engine.withStore { (store: Store) async throws -> Void in
            let step = Sessions.Step(
                charge: Self.charge(tokens: 30, cost: 0.25, session: Session.ID("ses_missing")),
                events: [EventDraft(type: .toolCallCompleted, actor: .agent("default"), payload: [:])],
                messages: [.assistant("Done.")]
            )
            await #expect(throws: StoreError.notFound(kind: "session", id: "ses_missing")) {
                try await store.sessions.record(step, in: Session.ID("ses_missing"), actor: .agent("default"))
            }
            #expect(try await store.ledger.events().isEmpty)
            #expect(try await store.spending.today(agent: "default") == Spending.Total())
        }
    }
}
