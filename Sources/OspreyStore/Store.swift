public import CoreMetrics
import Foundation
public import GRDB
public import Logging
public import OspreyCore

/// The gateway's database: SQLite in the home (one file in WAL mode, migrated on open, one serialized writer), or a
/// PostgreSQL server that several gateways share (``open(postgres:node:ledgerKey:bus:redactor:metrics:)``).
///
/// There is no protocol in front of it: the repositories run the same SQL on both engines through
/// ``SQLConnection``. Tests use ``inMemory(ledgerKey:bus:redactor:metrics:)``, which runs the same SQL.
public struct Store: Sendable {
    /// How hard a commit tries to survive power loss.
    public enum Durability: String, Sendable {
        /// `synchronous = FULL`: the WAL is fsynced at every commit.
        case full
        /// `synchronous = NORMAL`: fsync at checkpoints only; a crash of the process alone loses nothing.
        case normal
    }

    /// The SQLite database itself, for tests that must reach under the repositories; nil on PostgreSQL.
    public let writer: (any DatabaseWriter)!
    /// Which engine the store runs on.
    public let dialect: SQLDialect
    let backend: StoreBackend
    /// Every write transaction, committed in groups (``GroupCommit``).
    let commits: GroupCommit
    public let ledger: Ledger
    public let sessions: Sessions
    public let tokens: Tokens
    public let approvals: Approvals
    public let tasks: Tasks
    public let workflowSteps: WorkflowSteps
    public let schedules: Schedules
    public let provenance: Provenance
    public let spending: Spending
    public let budgets: Budgets
    public let memories: Memories
    public let seeds: Seeds
    public let interviews: Interviews
    public let channels: Channels
    public let switches: Switches
    public let incidents: Incidents
    /// On a PostgreSQL database several gateways share: the sessions' lanes across them (nil on SQLite).
    public let lanes: SessionLanes?

    public init(
        writer: any DatabaseWriter,
        ledgerKey: [UInt8],
        bus: EventBus = EventBus(),
        redactor: Redactor = Redactor(),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws {
        try Self.createSchemaIfEmpty(writer)
        try Self.migrator.migrate(writer)
        self.init(backend: .sqlite(writer), ledgerKey: ledgerKey, bus: bus, redactor: redactor, metrics: metrics)
    }

    init(
        backend: StoreBackend,
        ledgerKey: [UInt8],
        bus: EventBus,
        redactor: Redactor,
        metrics: any MetricsFactory
    ) {
        self.backend = backend
        switch backend {
        case .sqlite(let writer):
            self.writer = writer
            dialect = .sqlite
        case .postgres:
            writer = nil
            dialect = .postgres
        }
        let signer = HeadSigner(key: ledgerKey)
        let commits = GroupCommit(backend: backend, bus: bus, signer: signer, metrics: metrics)
        self.commits = commits
        let writer = commits
        let ledger = Ledger(writer: writer, signer: signer, bus: bus, redactor: redactor)
        self.ledger = ledger
        let spending = Spending(writer: writer, ledger: ledger)
        self.spending = spending
        self.sessions = Sessions(writer: writer, ledger: ledger, spending: spending)
        self.tokens = Tokens(writer: writer, ledger: ledger)
        self.approvals = Approvals(writer: writer, ledger: ledger)
        let node: String
        if case .postgres(let engine) = backend { node = engine.node } else { node = "" }
        let tasks = Tasks(writer: writer, ledger: ledger, node: node)
        self.tasks = tasks
        self.workflowSteps = WorkflowSteps(writer: writer, ledger: ledger, tasks: tasks)
        let schedules = Schedules(writer: writer, ledger: ledger, tasks: tasks)
        self.schedules = schedules
        self.budgets = Budgets(writer: writer, ledger: ledger, schedules: schedules.triggerCache)
        self.provenance = Provenance(writer: writer, ledger: ledger, node: node)
        self.memories = Memories(writer: writer, ledger: ledger)
        self.seeds = Seeds(writer: writer, ledger: ledger)
        self.interviews = Interviews(writer: writer, ledger: ledger)
        self.channels = Channels(writer: writer, ledger: ledger)
        self.switches = Switches(writer: writer, ledger: ledger)
        self.incidents = Incidents(writer: writer, ledger: ledger)
        if case .postgres(let engine) = backend { lanes = SessionLanes(engine: engine) } else { lanes = nil }
    }

    /// Opens (creating if needed) the database file in WAL mode with a busy timeout.
    public static func open(
        path: String,
        ledgerKey: [UInt8],
        durability: Durability = .full,
        readOnly: Bool = false,
        maximumReaders: Int? = nil,
        bus: EventBus = EventBus(),
        redactor: Redactor = Redactor(),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws -> Store {
        var configuration = Configuration()
        if let maximumReaders { configuration.maximumReaderCount = maximumReaders }
        configuration.busyMode = .timeout(10)
        configuration.readonly = readOnly
        configuration.foreignKeysEnabled = true
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        do {
            let pool = try DatabasePool(path: path, configuration: configuration)
            // The schema (a new database's script, or the migrations an older one still needs; run by the store's
            // initializer) commits first, at the pool's NORMAL: in WAL mode that cannot corrupt the file, a schema
            // change lost to a power cut is made again at the next start, and the first commit at FULL makes it
            // durable with it (it syncs the WAL it was appended to). So no WAL sync waits before the gateway answers.
            let store = try Store(writer: pool, ledgerKey: ledgerKey, bus: bus, redactor: redactor, metrics: metrics)
            // Not in `prepareDatabase`: the pool's WAL set-up runs after that hook and resets `synchronous` to
            // NORMAL. The pool has one writer connection for its lifetime, so setting it there, now, holds.
            if !readOnly {
                try pool.barrierWriteWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
                }
            }
            return store
        } catch let error as DatabaseError {
            throw StoreError.unavailable("cannot open \(path): \(error.message ?? error.description)")
        }
    }

    /// Opens the database of a home, with the home's ledger key.
    /// The redactor sees every secret in the home's store, so none of them can be written into an event.
    public static func open(
        home: Home,
        durability: Durability = .full,
        bus: EventBus = EventBus(),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws -> Store {
        try open(
            path: home.databaseFile.path,
            ledgerKey: try home.readLedgerKey(),
            durability: durability,
            bus: bus,
            redactor: Redactor(secrets: try SecretStore(home: home).allValues()),
            metrics: metrics
        )
    }

    /// An in-memory database with the same schema, for tests.
    public static func inMemory(
        ledgerKey: [UInt8] = Array(repeating: 7, count: 32),
        bus: EventBus = EventBus(),
        redactor: Redactor = Redactor(),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws -> Store {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        return try Store(
            writer: DatabaseQueue(configuration: configuration),
            ledgerKey: ledgerKey,
            bus: bus,
            redactor: redactor,
            metrics: metrics
        )
    }

    /// How durable a commit is, in SQLite's numbers: `PRAGMA synchronous` on the writer connection (2 is FULL,
    /// 1 NORMAL, 0 OFF); on PostgreSQL 2 when `synchronous_commit` waits for the WAL flush, else 1.
    public func writerSynchronous() async throws -> Int {
        switch backend {
        case .sqlite(let writer):
            return try await writer.writeWithoutTransaction { db in
                try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
            }
        case .postgres:
            let setting = try await commits.read { db in try db.value(String.self, "SHOW synchronous_commit") }
            return ["on", "remote_write", "remote_apply"].contains(setting ?? "") ? 2 : 1
        }
    }

    /// `PRAGMA integrity_check`: "ok" or the first problems SQLite reports. PostgreSQL checks its pages itself;
    /// there it is the ledger's own check that says whether the data is whole.
    public func integrityCheck() async throws -> [String] {
        switch backend {
        case .sqlite(let writer): try await writer.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
        case .postgres: throw StoreError.unavailable("the integrity check is SQLite's; run `osprey audit verify`")
        }
    }
}

extension Store {
    /// Copies the database at `path` into the new file `destination` as one consistent snapshot (`VACUUM INTO` on a
    /// read-only connection), while a gateway may be writing to it: its own process or another.
    public static func snapshot(databaseAt path: String, to destination: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [destination]) }
        } catch let error as DatabaseError {
            throw StoreError.unavailable("cannot copy \(path): \(error.message ?? error.description)")
        }
    }

    /// How many sessions and memories the store holds (a backup's manifest records them).
    public func counts() async throws -> [String: Int] {
        try await commits.read { db in
            [
                "sessions": try db.value(Int.self, "SELECT count(*) FROM sessions") ?? 0,
                "memories": try db.value(Int.self, "SELECT count(*) FROM memories") ?? 0,
            ]
        }
    }
}

extension Store {
    /// A store on a PostgreSQL database that several gateways share, each with its `node` name and the same ledger
    /// key. The schema is created or brought up to date first (idempotently, one node at a time), so an unreachable
    /// server or a refused login is an error here, with its reason.
    public static func open(
        postgres target: PostgresTarget,
        node: String,
        ledgerKey: [UInt8],
        bus: EventBus = EventBus(),
        redactor: Redactor = Redactor(),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        logger: Logger = Logger(label: "osprey.store.postgres")
    ) async throws -> Store {
        // Off the task pool: the schema's statements wait for the server.
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try PostgresSchema.create(on: target, node: node, logger: logger) })
            }
        }
        let engine = PostgresEngine(target: target, node: node, logger: logger)
        return Store(backend: .postgres(engine), ledgerKey: ledgerKey, bus: bus, redactor: redactor, metrics: metrics)
    }

    /// Closes a PostgreSQL store's connections (SQLite's close with the store).
    /// Runs `body` on a reader, on either engine: for diagnostics and tests (the repositories are the store's API).
    public func read<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        try await commits.read(body)
    }

    public func close() {
        if case .postgres(let engine) = backend {
            lanes?.close()
            engine.close()
        }
    }
}
