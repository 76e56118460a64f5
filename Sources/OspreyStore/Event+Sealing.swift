import OspreyCore

extension Event {
    /// What `draft` becomes as the event at `seq` after the one whose hash is `previous`, in either ledger: its
    /// payload redacted and serialized once, those bytes hashed inside the envelope and returned as the text to store.
    static func sealed(
        _ draft: EventDraft,
        seq: Int,
        id: Event.ID,
        ts: String,
        after previous: String,
        redactor: Redactor
    ) -> (event: Event, payload: String) {
        var event = Event(
            seq: seq,
            id: id,
            ts: ts,
            type: draft.type,
            actor: draft.actor,
            session: draft.session,
            task: draft.task,
            payload: redactor.redact(draft.payload),
            prevHash: previous,
            hash: ""
        )
        let payloadJSON = event.payload.canonicalBytes
        event.hash = Event.sha256Hex(event.hashedBytes(payloadJSON: payloadJSON))
        return (event, String(decoding: payloadJSON, as: UTF8.self))
    }
}
