import OspreyCore

/// Moving a home's SQLite ledger into a cluster's PostgreSQL database (`osprey store migrate --to`).
public enum PostgresMigration {
    /// What a copy did, and both sides' verification after it.
    public struct Report: Sendable {
        public var copied: Int
        public var source: LedgerVerification
        public var target: LedgerVerification
    }

    /// Copies every event of `source` that `target` does not hold yet, each with its seq, id, time and hash, in
    /// pages of 1,000 (one transaction each, so a copy cut short resumes where it stopped), then verifies both.
    ///
    /// Refused with ``StoreError/conflict(_:)``, before anything is written, when the source does not verify or when
    /// the target holds events that are not this home's (another chain, or one that has gone further).
    public static func copyLedger(from source: Store, to target: PostgresStore) async throws -> Report {
        let before = try await source.ledger.verify()
        guard before.ok else {
            throw StoreError.conflict(
                "the home's ledger does not verify (\(before.reason ?? "broken") at \(before.firstBadSeq ?? 0)): "
                    + "not copied"
            )
        }
        let held = try await target.ledger.lastSeq()
        if held > 0 {
            let theirs = try await target.ledger.events(after: held - 1, limit: 1).first
            let ours = try await source.ledger.events(after: held - 1, limit: 1).first
            guard let ours else {
                throw StoreError.conflict(
                    "the database's ledger holds \(held) events, the home's \(before.count): it is not a copy of this home"
                )
            }
            guard ours.hash == theirs?.hash else {
                throw StoreError.conflict("the database's ledger is another chain (event \(held) differs): not copied")
            }
        }
        var copied = 0
        var cursor = held
        while true {
            let page = try await source.ledger.events(after: cursor, limit: 1000)
            guard let last = page.last else { break }
            copied += try await target.ledger.copy(page)
            cursor = last.seq
        }
        return Report(
            copied: copied,
            source: try await source.ledger.verify(),
            target: try await target.ledger.verify()
        )
    }
}
