import CoreMetrics
import GRDB
import OspreyCore
import Synchronization

/// Every write transaction of the store, committed in groups: one fsync for many writers' work.
///
/// A caller queues its transaction body and waits. When nobody is writing, the caller that queued first starts a
/// turn on the database's single writer (on SQLite it commits that first group itself, on its own thread; what
/// queues meanwhile goes on in a task); the turn takes every body queued by then and runs them in one
/// `BEGIN IMMEDIATE` transaction, each inside its own savepoint, so one body's failure rolls back only that body's
/// writes. After `COMMIT` returns (synchronous=FULL: the WAL is on disk) every caller of the group is resumed at once
/// with its own result, and the turn goes on with the bodies queued meanwhile, until none is left. A caller therefore
/// hears of success only after the fsync that made its writes durable, and writers that arrive while a commit is in
/// flight share the next one instead of queueing one fsync each.
///
/// Events appended inside a body are published to the ``EventBus`` only after the commit, and only for bodies whose
/// savepoint was released: subscribers never hear of writes that rolled back.
public final class GroupCommit: Sendable {
    let backend: StoreBackend
    private let queue = Mutex<(jobs: [Job], writing: Bool)>(([], false))
    private let counters = Mutex<Statistics>(Statistics())
    /// The events of the current group, published once it commits.
    let publications = Publications()
    /// The events this store committed, for its PostgreSQL feed (``Store/feed(logger:)``) to tell from others'.
    let localEvents = LocalEvents()
    let bus: EventBus
    /// How long each write took from its queueing to its durable commit (every ledger append is one).
    private let latency: CoreMetrics.Timer

    /// Signs the ledger's head, written once per group after its last surviving event.
    let signer: HeadSigner
    /// The connection ``readBounded(_:)`` reads on the calling thread with: a file's SQLite store only (an in-memory
    /// database has no second connection; PostgreSQL reads through its readers).
    let pointReader: PointReader?

    init(backend: StoreBackend, bus: EventBus, signer: HeadSigner, metrics: any MetricsFactory) {
        self.backend = backend
        self.bus = bus
        self.signer = signer
        if case .sqlite(let writer) = backend, let pool = writer as? DatabasePool {
            // Without it (it cannot open) bounded reads go through the pool's queue: slower, nothing else.
            pointReader = try? PointReader(path: pool.path)
        } else {
            pointReader = nil
        }
        latency = CoreMetrics.Timer(label: "osprey_ledger_append_seconds", factory: metrics)
    }

    /// Runs `body` in a write transaction, grouped with other writers' bodies; returns after the group's commit.
    @discardableResult
    func transaction<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        let job = Job(body)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            job.waiting(continuation)
            let starts = queue.withLock { queue in
                queue.jobs.append(job)
                defer { queue.writing = true }
                return !queue.writing
            }
            guard starts else { return }
            if case .sqlite(let writer) = backend { lead(writer) } else { write() }
        }
        return try job.result(as: T.self)
    }

    /// The caller that found the SQLite writer idle commits the first group itself, on its own thread: a lone
    /// writer's commit then costs no thread hop, as a raw SQLite transaction costs none (the turn started from a
    /// task cost two wake-ups: the task's, and the caller's resumption). The caller's continuation is resumed inside
    /// the commit, so its `await` returns without suspending. Whatever queued meanwhile is handed to a turn on a task,
    /// so the leader's own caller is not held while other writers keep arriving.
    ///
    /// A write that no longer suspends made two races show (each time this was tried before it was taken back):
    /// ids made in the same millisecond sorted at random, so recovery could queue tasks out of order (ids are now
    /// monotonic in a process, ``Identifier/random(prefix:)``), and a run's approval requests were subscribed to by
    /// a task that could start after the run had made one (``AgentRunner`` subscribes before the run starts).
    private func lead(_ writer: any DatabaseWriter) {
        writer.writeWithoutTransaction { db in
            if let group = nextGroup() { commit(group, SQLConnection(db)) }
        }
        handOff()
    }

    /// A turn on the writer: commits group after group until the queue is empty.
    ///
    /// Started from a task: writers that arrive while it starts join its first group. The task then writes
    /// synchronously: the writer's serial queue runs the turn on the task's own thread, saving the hand-off to a
    /// dispatch thread and back (two thread wake-ups per turn); one pool thread is busy for the turn, as a dispatch
    /// thread was.
    private func write() {
        Task { self.turn() }
    }

    /// `body` read on the writer's connection, on this thread (the synchronous access, from an async caller).
    private static func readHere<T>(on writer: any DatabaseWriter, _ body: (SQLConnection) throws -> T) throws -> T {
        try writer.writeWithoutTransaction { db in
            // Held between turns, the writer has no transaction open; one would be a write's, never to be touched.
            guard !db.isInsideTransaction else { throw StoreError.invalid("the writer has a transaction open") }
            return try PointReader.snapshot(db, body)
        }
    }

    /// Takes the writer for this thread when no turn holds it; writers that queue meanwhile wait for ``handOff()``.
    private func takeIdleWriter() -> Bool {
        queue.withLock { queue in
            guard !queue.writing else { return false }
            queue.writing = true
            return true
        }
    }

    /// Gives the writer up after a caller held it on its own thread (a lone write, a bounded read): to a turn on a task
    /// when writers queued meanwhile.
    private func handOff() {
        let more = queue.withLock { queue in
            if queue.jobs.isEmpty { queue.writing = false }
            return queue.writing
        }
        if more { write() }
    }

    /// The synchronous write rethrows only what its body throws, and `drain` throws nothing: every failure (a
    /// statement, the commit, a lost connection) ends in `commit`, which fails the group's callers with it.
    private func turn() {
        switch backend {
        case .sqlite(let writer):
            writer.writeWithoutTransaction { db in self.drain(SQLConnection(db)) }
        case .postgres(let engine):
            // The engine's writer thread waits for the server; a connection it cannot open fails this turn's
            // callers with the reason, and the next turn tries again.
            engine.onWriter { connection in
                switch connection {
                case .success(let connection): self.drain(SQLConnection(connection))
                case .failure(let error): self.failQueued(error)
                }
            }
        }
    }

    /// Fails every queued body and ends the turn.
    private func failQueued(_ error: any Error) {
        let jobs = queue.withLock { queue in
            defer {
                queue.jobs.removeAll(keepingCapacity: true)
                queue.writing = false
            }
            return queue.jobs
        }
        for job in jobs { job.fail(error) }
    }

    /// How many bodies wait for the writer now.
    var waiting: Int { queue.withLock { $0.jobs.count } }

    /// How many groups have committed and how many bodies they held, since the store opened.
    var statistics: Statistics { counters.withLock { $0 } }

    /// Reads from a snapshot (a reader connection in WAL mode), never waiting for writers.
    func read<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        switch backend {
        case .sqlite(let writer): try await writer.read { db in try body(SQLConnection(db)) }
        case .postgres(let engine): try await engine.read(body)
        }
    }

    /// Reads on the calling thread, blocking it while a reader connection (WAL: it never waits for writers) runs
    /// `body`: for initializers that run before the gateway serves, and for bounded reads (by id, or a small page)
    /// whose two thread hops through ``read(_:)-(@Sendable...)`` (to GRDB's reader queue and back) would cost more
    /// than the read. A large read goes through the reader queue and leaves the task pool's few threads free.
    func readHere<T>(_ body: (SQLConnection) throws -> T) throws -> T {
        switch backend {
        case .sqlite(let writer): try writer.read { db in try body(SQLConnection(db)) }
        case .postgres(let engine): try engine.readHere(body)
        }
    }

    /// A bounded read (a row by its key, a small page) for an async caller. On SQLite it runs on the calling thread:
    /// on the writer's connection when no turn holds it, else on the ``PointReader`` when that is free. Both take
    /// tens of microseconds where the two thread hops of ``read(_:)-(@Sendable...)`` take 50-100 each (a session's
    /// row: 177 µs through the reader queue, 38 on the thread). The writer's connection comes first because its page
    /// cache is warm: any other connection drops its whole cache at the first read after a commit, and reads every
    /// page again (a session's row: 38-63 µs on the point reader after a commit, 25-38 on the writer). Writers that
    /// queue meanwhile wait those microseconds, then go on in a turn of their own. Otherwise, and on PostgreSQL (a
    /// round trip to the server must not hold one of the task pool's few threads), it goes through
    /// ``read(_:)-(@Sendable...)``.
    func readBounded<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        if case .sqlite(let writer) = backend, !writer.configuration.readonly, takeIdleWriter() {
            defer { handOff() }
            return try Self.readHere(on: writer, body)
        }
        if let pointReader, let value = try pointReader.read(body) { return value }
        return try await read(body)
    }

    /// Runs the queued bodies, a group per transaction, until none is left. Called on the writer's queue.
    private func drain(_ db: SQLConnection) {
        while let group = nextGroup() { commit(group, db) }
    }

    /// The bodies queued now, taken off the queue; nil when none is, which ends the turn in the same step, so a body
    /// queued right after starts a new turn and none is left behind.
    private func nextGroup() -> [Job]? {
        queue.withLock { queue in
            defer { queue.jobs.removeAll(keepingCapacity: true) }
            if queue.jobs.isEmpty {
                queue.writing = false
                return nil
            }
            return queue.jobs
        }
    }

    /// Every statement below is prepared once per connection (cached): a group runs four of them per body.
    private func commit(_ group: [Job], _ db: SQLConnection) {
        publications.begin()
        var ran: [Job] = []
        do {
            if db.dialect == .sqlite {
                try db.execute("BEGIN IMMEDIATE TRANSACTION")
            } else {
                // The ledger's lock first, before any body locks a row: a body that locked a row and then waited for
                // the lock while another gateway's group, holding it, waited for that row would be a deadlock.
                // Nearly every write appends an event, so the gateways' write transactions take turns anyway.
                try db.execute("BEGIN")
                try db.execute("SELECT pg_advisory_xact_lock(?)", [PostgresSchema.ledgerLock])
            }
            for job in group {
                let mark = publications.mark
                // A lone body needs no savepoint: if it fails, the whole transaction rolls back below.
                if group.count == 1 {
                    try job.run(db)
                    ran.append(job)
                    continue
                }
                try db.execute("SAVEPOINT osprey_group")
                do {
                    try job.run(db)
                    try db.execute("RELEASE SAVEPOINT osprey_group")
                    ran.append(job)
                } catch {
                    publications.rollBack(to: mark)
                    // Some failures (a full disk, an I/O error) end the whole transaction, not just the savepoint;
                    // then the bodies that ran before are lost too and fail with the same error.
                    guard db.isInsideTransaction else { throw error }
                    try db.execute("ROLLBACK TO SAVEPOINT osprey_group")
                    try db.execute("RELEASE SAVEPOINT osprey_group")
                    job.fail(error)
                }
            }
            // One signed head for the group, after the last event of the bodies that were kept.
            if let last = publications.last {
                try Ledger.writeHead(seq: last.seq, hash: last.hash, signer: signer, in: db)
                if db.dialect == .postgres {
                    // Other gateways on the database hear how far the ledger has come when this commits, and read
                    // the events from the table; this one's feed knows these ids as its own and skips them.
                    try db.execute("SELECT pg_notify('osprey_events', ?)", [String(last.seq)])
                    localEvents.committing(publications.ids)
                }
            }
            try db.execute("COMMIT TRANSACTION")
            counters.withLock {
                $0.groups += 1
                $0.transactions += ran.count
            }
            // Subscribers hear first, as with a commit hook: a caller that returns from its write finds its events
            // already on the bus.
            bus.publish(publications.end())
            let now = ContinuousClock.now
            for job in ran {
                let (seconds, attoseconds) = (now - job.queued).components
                latency.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
                job.succeed()
            }
        } catch {
            // The group already failed with `error`; a rollback that fails too (the connection is gone) changes
            // nothing for the callers, and SQLite rolls back an unfinished transaction on its own.
            if db.isInsideTransaction { db.rollBackAfterFailure() }
            localEvents.failed(publications.end().map(\.id))
            let error = Self.storageFailure(error)
            for job in group where !job.isFinished { job.fail(error) }
        }
    }
}

extension GroupCommit {
    /// Committed groups and the bodies in them: `transactions / groups` is how many writers shared each fsync.
    public struct Statistics: Hashable, Sendable {
        public var groups = 0
        public var transactions = 0
    }

    /// One caller's transaction body and, once its group has committed or failed, its outcome.
    final class Job: Sendable {
        private let body: @Sendable (SQLConnection) throws -> any Sendable
        private let state = Mutex<
            (
                value: (any Sendable)?, outcome: Result<Void, any Error>?,
                continuation: CheckedContinuation<Void, any Error>?
            )
        >((nil, nil, nil))

        /// Keeps the caller's ``EventDraft/currentTask``: the body may run in another writer's turn, on another
        /// thread, and the events it drafts there must still name the caller's task.
        /// When the caller queued it.
        let queued = ContinuousClock.now

        init<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) {
            let task = EventDraft.currentTask
            self.body = { db in try EventDraft.$currentTask.withValue(task) { try body(db) } }
        }

        /// Runs the body; its value is kept until the group commits.
        func run(_ db: SQLConnection) throws {
            let value = try body(db)
            state.withLock { $0.value = value }
        }

        /// The caller, suspended until its group ends.
        func waiting(_ continuation: CheckedContinuation<Void, any Error>) {
            state.withLock { $0.continuation = continuation }
        }

        func succeed() { finish(.success(())) }
        func fail(_ error: any Error) { finish(.failure(error)) }

        private func finish(_ outcome: Result<Void, any Error>) {
            let continuation = state.withLock { state in
                guard state.outcome == nil else { return CheckedContinuation<Void, any Error>?.none }
                state.outcome = outcome
                if case .failure = outcome { state.value = nil }
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume(with: outcome)
        }
        var isFinished: Bool { state.withLock { $0.outcome != nil } }

        func result<T>(as type: T.Type) throws -> T {
            let (value, outcome) = state.withLock { ($0.value, $0.outcome) }
            switch outcome {
            case .success: return value as! T  // set by `run` before `succeed`, from a body returning T
            case .failure(let error): throw error
            case nil: throw StoreError.invalid("a write transaction ended without an outcome")
            }
        }
    }

    /// The events appended in the group being committed, kept per body so a body that rolls back takes its events
    /// with it. Only the writer's queue touches it, one group at a time; the lock makes that safe to state.
    final class Publications: Sendable {
        private let state = Mutex<(collecting: Bool, events: [Event])>((false, []))

        func begin() { state.withLock { $0 = (true, []) } }
        /// The ids of the events collected so far.
        var ids: [Event.ID] { state.withLock { $0.events.map(\.id) } }
        /// The last event collected so far (of the bodies not rolled back).
        var last: Event? { state.withLock { $0.events.last } }
        var mark: Int { state.withLock { $0.events.count } }
        func rollBack(to mark: Int) { state.withLock { $0.events.removeSubrange(mark...) } }

        func end() -> [Event] {
            state.withLock { state in
                defer { state = (false, []) }
                return state.events
            }
        }

        /// Holds `events` for publication after the group commits; false outside a group (the caller then publishes
        /// on its own transaction's commit).
        func collect(_ events: [Event]) -> Bool {
            state.withLock { state in
                guard state.collecting else { return false }
                state.events += events
                return true
            }
        }
    }
}

extension GroupCommit {
    /// The ids of events this store is committing or has committed and its feed has not yet read back: kept only
    /// while a feed runs, and each forgotten when the feed reads it (or when its commit fails).
    final class LocalEvents: Sendable {
        private let state = Mutex<(following: Bool, ids: Set<Event.ID>)>((false, []))

        func start() { state.withLock { $0 = (true, []) } }
        func stop() { state.withLock { $0 = (false, []) } }

        func committing(_ ids: [Event.ID]) {
            state.withLock { state in
                if state.following { state.ids.formUnion(ids) }
            }
        }

        func failed(_ ids: [Event.ID]) { state.withLock { $0.ids.subtract(ids) } }

        /// True (and forgotten) when `id` is one of this store's own events.
        func isLocal(_ id: Event.ID) -> Bool { state.withLock { $0.ids.remove(id) != nil } }
    }
}
