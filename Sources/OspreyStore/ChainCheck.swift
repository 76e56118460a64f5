import OspreyCore

/// The walk that verifies a ledger, whatever holds it: events in seq order, then the signed head.
///
/// ``Ledger`` feeds it its rows page by page, on either engine, so a chain is judged by the same rules and a break
/// worded the same way on SQLite and PostgreSQL.
struct ChainCheck {
    let signer: HeadSigner
    private var expectedSeq = 1
    private(set) var previous = Event.genesisHash
    private(set) var count = 0

    init(signer: HeadSigner) { self.signer = signer }

    private func broken(_ seq: Int, _ reason: String) -> LedgerVerification {
        LedgerVerification(ok: false, count: count, head: previous, firstBadSeq: seq, reason: reason)
    }

    /// Checks the next event, read from its stored row, against the one before it. Returns the verdict when this
    /// event breaks the chain, nil when it links.
    ///
    /// The payload is hashed as stored, not parsed and written again: append stores the very bytes it hashed, so a
    /// stored text that differs from them in any byte (re-serialized, edited, not JSON) fails the hash, as a parse
    /// and re-serialization would have found, at a fraction of the cost.
    mutating func next(_ row: SQLRow) -> LedgerVerification? {
        let event = Ledger.event(from: row, payload: .null)
        if event.seq != expectedSeq {
            return broken(expectedSeq, "event \(expectedSeq) is missing")
        }
        if event.prevHash != previous {
            return broken(event.seq, "event \(event.seq) does not link to the event before it")
        }
        let stored: String = row["payload"]
        if Event.sha256Hex(event.hashedBytes(payloadJSON: Array(stored.utf8))) != event.hash {
            return broken(event.seq, "event \(event.seq) was altered after it was written")
        }
        previous = event.hash
        expectedSeq += 1
        count += 1
        return nil
    }

    /// The verdict once every event has linked: the signed head (nil when there is none) must sign the last event.
    func finish(head: (seq: Int, hash: String, signature: String)?) -> LedgerVerification {
        guard let head else {
            return count == 0
                ? LedgerVerification(ok: true, count: 0, head: previous, firstBadSeq: nil, reason: nil)
                : broken(1, "the signed head record is missing")
        }
        guard signer.isValid(head.signature, seq: head.seq, hash: head.hash) else {
            return broken(min(head.seq, count + 1), "the head record's signature is invalid (wrong key or forged head)")
        }
        if head.seq > count {
            return broken(
                count + 1,
                "the ledger ends at \(count) but its signed head is at \(head.seq): events were removed"
            )
        }
        if head.seq < count {
            return broken(head.seq + 1, "events after the signed head (\(head.seq)) were added outside the gateway")
        }
        if head.hash != previous {
            return broken(count, "the last event's hash differs from the signed head")
        }
        return LedgerVerification(ok: true, count: count, head: previous, firstBadSeq: nil, reason: nil)
    }
}
