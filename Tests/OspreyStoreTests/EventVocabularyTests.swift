import Foundation
import OspreyCore
import OspreyStore
import Testing

/// The typed vocabulary of the ledger keeps the strings that are hashed: renaming a constant must not change them.
struct EventVocabularyTests {
    static let kinds: [(Event.Kind, String)] = [
        (.sessionCreated, "session.created"), (.sessionDeleted, "session.deleted"),
        (.sessionCompacted, "session.compacted"), (.messageSystem, "message.system"), (.messageUser, "message.user"),
        (.messageAssistant, "message.assistant"), (.messageTool, "message.tool"),
        (.toolCallRequested, "tool.call.requested"), (.toolCallCompleted, "tool.call.completed"),
        (.toolCallFailed, "tool.call.failed"), (.toolCallInterrupted, "tool.call.interrupted"),
        (.runInterrupted, "run.interrupted"), (.runCancelled, "run.cancelled"),
        (.runCancelRequested, "run.cancel.requested"), (.runFailed, "run.failed"),
        (.llmCall, "llm.call"), (.budgetExceeded, "budget.exceeded"), (.policyDecision, "policy.decision"),
        (.fileTainted, "file.tainted"), (.approvalRequested, "approval.requested"),
        (.approvalGranted, "approval.granted"), (.approvalDenied, "approval.denied"),
        (.approvalExpired, "approval.expired"), (.approvalUsed, "approval.used"), (.taskCreated, "task.created"),
        (.taskStarted, "task.started"), (.taskAdopted, "task.adopted"), (.taskCompleted, "task.completed"),
        (.taskFailed, "task.failed"),
        (.taskCancelled, "task.cancelled"), (.scheduleCreated, "schedule.created"),
        (.scheduleFired, "schedule.fired"), (.scheduleRemoved, "schedule.removed"),
        (.heartbeatTick, "heartbeat.tick"), (.watcherAlert, "watcher.alert"),
        (.watcherRemediated, "watcher.remediated"), (.memoryStored, "memory.stored"),
        (.memoryForgotten, "memory.forgotten"), (.gatewayStarted, "gateway.started"),
        (.gatewayStopped, "gateway.stopped"), (.authFailed, "auth.failed"), (.tokenCreated, "token.created"),
        (.tokenRevoked, "token.revoked"),
    ]

    @Test func everyKindKeepsItsLedgerString() {
        for (kind, raw) in Self.kinds { #expect(kind.rawValue == raw) }
        #expect(Set(Self.kinds.map(\.0)).count == Self.kinds.count)
    }

    @Test(arguments: [Role.system, .user, .assistant, .tool])
    func aMessageKindNamesItsRole(role: Role) {
        #expect(Event.Kind.message(role).rawValue == "message.\(role.rawValue)")
    }

    @Test func principalsKeepTheirLedgerStrings() {
        #expect(Principal.system.rawValue == "system")
        #expect(Principal.anonymous.rawValue == "anonymous")
        #expect(Principal.agent("default").rawValue == "agent:default")
        #expect(Principal.user("alice").rawValue == "user:alice")
        #expect(Principal.task(TaskRecord.ID("tsk_1")).rawValue == "task:tsk_1")
        #expect(Principal.schedule(ScheduleRecord.ID("sch_1")).rawValue == "schedule:sch_1")
    }

    @Test func kindsAndPrincipalsEncodeAsTheirBareStrings() throws {
        let encoded = try JSONEncoder().encode([Event.Kind.llmCall])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["llm.call"]"#)
        #expect(try JSONDecoder().decode([Event.Kind].self, from: encoded) == [.llmCall])
        let principal = try JSONEncoder().encode([Principal.agent("a")])
        #expect(String(decoding: principal, as: UTF8.self) == #"["agent:a"]"#)
        #expect(try JSONDecoder().decode([Principal].self, from: principal) == [.agent("a")])
    }

    @Test func anEventsEnvelopeCarriesTheRawStrings() async throws {
        let store = try Store.inMemory()
        let event = try await store.ledger.append(
            EventDraft(
                type: .llmCall,
                actor: .agent("default"),
                session: Session.ID("ses_1"),
                task: TaskRecord.ID("tsk_1"),
                payload: ["outcome": "rate_limited"]
            )
        )
        #expect(event.envelope["type"] == "llm.call")
        #expect(event.envelope["actor"] == "agent:default")
        #expect(event.envelope["session"] == "ses_1")
        #expect(event.envelope["task"] == "tsk_1")
        #expect(event.callOutcome == .rateLimited)
        #expect(Event(envelope: event.envelope) == event)
        #expect(try await store.ledger.events() == [event])
    }
}
