public import OspreyCore

extension Sessions {
    /// One step of a run, stored in one transaction: a model reply with the call that produced it and the tool
    /// calls it requests, or the results of those calls with their outcomes.
    ///
    /// A step is a run's unit of recovery: it is all stored or none of it is, so a resumed run never sees a
    /// message without its events, or a settled call without the reply it paid for.
    public struct Step: Sendable {
        /// The model call that produced ``messages``, settled with them.
        public var charge: Spending.Charge?
        /// Events recorded before the messages: the outcomes of the tool calls the messages answer.
        public var events: [EventDraft]
        /// Messages added to the transcript, in order, each with its `message.<role>` event.
        public var messages: [Message]
        /// Events recorded after the messages: the tool calls a reply requests, a run's interruption.
        public var followUps: [EventDraft]

        public init(
            charge: Spending.Charge? = nil,
            events: [EventDraft] = [],
            messages: [Message] = [],
            followUps: [EventDraft] = []
        ) {
            self.charge = charge
            self.events = events
            self.messages = messages
            self.followUps = followUps
        }
    }

    /// Stores `step` in `session` in one transaction, in the order of its properties: the charge, the events,
    /// the messages, the follow-ups.
    public func record(_ step: Step, in session: Session.ID, actor: Principal) async throws {
        try await writer.transaction { db in
            if let charge = step.charge { try spending.record(charge, in: db) }
            if !step.events.isEmpty { _ = try ledger.append(step.events, in: db) }
            for message in step.messages { _ = try append(message, to: session, actor: actor, in: db) }
            if !step.followUps.isEmpty { _ = try ledger.append(step.followUps, in: db) }
        }
    }
}
