public import Logging
public import OspreyCore
import PostgresNIO

/// What several gateways share on one PostgreSQL database: the one ledger, the task queue with leases, the
/// schedules' ticks and leadership, and the event feed every node follows.
///
/// Each gateway (a node) opens its own `PostgresStore` with the same ledger key; the database serializes what must be
/// serialized (ledger appends under an advisory lock, claims with `FOR UPDATE SKIP LOCKED`), so nodes need no other
/// channel between them. ``run()`` must be running (it drives the connection pool) while the store is used;
/// ``withRunning(_:)`` does both.
public struct PostgresStore: Sendable {
    public let target: PostgresTarget
    /// This gateway's name in the cluster: leases, claims and leadership are held in it.
    public let node: String
    let client: PostgresClient
    let logger: Logger
    public let ledger: PostgresLedger
    public let queue: PostgresTaskQueue
    public let ticks: PostgresTicks
    public let memories: PostgresMemoryIndex

    public init(
        target: PostgresTarget,
        node: String,
        ledgerKey: [UInt8],
        redactor: Redactor = Redactor(),
        connections: Int = 8,
        logger: Logger = Logger(label: "osprey.postgres")
    ) {
        self.target = target
        self.node = node
        self.logger = logger
        let client = PostgresClient(
            configuration: target.clientConfiguration(connections: connections, node: node),
            backgroundLogger: logger
        )
        self.client = client
        let commits = PostgresGroupCommit(client: client, logger: logger)
        let ledger = PostgresLedger(
            client: client,
            commits: commits,
            target: target,
            node: node,
            signer: HeadSigner(key: ledgerKey),
            redactor: redactor,
            logger: logger
        )
        self.ledger = ledger
        self.queue = PostgresTaskQueue(client: client, commits: commits, ledger: ledger, node: node, logger: logger)
        self.memories = PostgresMemoryIndex(client: client, logger: logger)
        self.ticks = PostgresTicks(commits: commits, ledger: ledger, target: target, node: node, logger: logger)
    }

    /// Drives the connection pool until cancelled.
    public func run() async { await client.run() }

    /// Runs the pool, creates the schema if it is missing, runs `body`, then stops the pool.
    public func withRunning<T: Sendable>(_ body: @Sendable (PostgresStore) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await run()
                return nil
            }
            defer { group.cancelAll() }
            try await migrate()
            return try await body(self)
        }
    }

    /// Creates the tables if they are missing. Nodes starting together take turns (a transaction-scoped advisory
    /// lock), so two `CREATE TABLE IF NOT EXISTS` never race.
    public func migrate() async throws {
        try await Self.translating {
            // A connection of its own first: an unreachable server is then an error now, with its cause, where the
            // pool would keep trying in the background and the first query would wait for it.
            try await target.withOwnConnection(node: node, logger: logger) { _ in }
            try await client.transaction(logger: logger) { connection in
                try await connection.run("SELECT pg_advisory_xact_lock(\(Self.schemaLock))", logger: logger)
                for statement in Self.schema + PostgresMemoryIndex.schema {
                    try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
        }
    }

    // Advisory lock keys: one 64-bit number per purpose, the same on every node.
    static let schemaLock: Int64 = 0x6f73_7072_0001
    static let ledgerLock: Int64 = 0x6f73_7072_0002
    static let capsLock: Int64 = 0x6f73_7072_0003

    /// As in SQLite: an event, once written, is never changed or removed through SQL.
    static let permanence: [String] = [
        """
        CREATE OR REPLACE FUNCTION osprey_events_are_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'ledger events are immutable'; END $$
        """,
        """
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'events_are_permanent') THEN
                CREATE TRIGGER events_are_permanent BEFORE UPDATE OR DELETE ON events
                FOR EACH ROW EXECUTE FUNCTION osprey_events_are_permanent();
            END IF;
        END $$
        """,
    ]

    static let schema: [String] =
        [
            """
            CREATE TABLE IF NOT EXISTS events (
                seq BIGINT PRIMARY KEY, id TEXT NOT NULL UNIQUE, ts TEXT NOT NULL, type TEXT NOT NULL,
                actor TEXT NOT NULL, session TEXT, task TEXT, payload TEXT NOT NULL, prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS events_by_session ON events (session, seq) WHERE session IS NOT NULL",
            "CREATE INDEX IF NOT EXISTS events_by_task ON events (task, seq) WHERE task IS NOT NULL",
        ] + permanence + [
            """
            CREATE TABLE IF NOT EXISTS ledger_head (
                id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL, signature TEXT NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS task_queue (
                id TEXT PRIMARY KEY, position BIGSERIAL, title TEXT NOT NULL, agent TEXT NOT NULL,
                instructions TEXT NOT NULL, priority INTEGER NOT NULL, provider TEXT, lane TEXT,
                status TEXT NOT NULL, node TEXT, lease_until TIMESTAMPTZ, attempts INTEGER NOT NULL DEFAULT 0,
                result TEXT, error TEXT)
            """,
            """
            CREATE INDEX IF NOT EXISTS task_queue_ready ON task_queue (priority DESC, position)
            WHERE status IN ('queued', 'running')
            """,
            "CREATE INDEX IF NOT EXISTS task_queue_lanes ON task_queue (lane, position) WHERE lane IS NOT NULL",
            """
            CREATE TABLE IF NOT EXISTS task_effects (
                task TEXT NOT NULL, key TEXT NOT NULL, node TEXT NOT NULL, state TEXT NOT NULL, result TEXT,
                PRIMARY KEY (task, key))
            """,
            """
            CREATE TABLE IF NOT EXISTS schedule_ticks (
                schedule TEXT NOT NULL, tick TEXT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL,
                PRIMARY KEY (schedule, tick))
            """,
        ]

    /// Runs `body`, turning PostgreSQL's errors into ``StoreError``s that say what the server said.
    @discardableResult
    static func translating<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PSQLError {
            throw translated(error)
        } catch let error as PostgresConnectionLost {
            throw translated(error)
        }
    }

    static func translated(_ error: any Error) -> any Error {
        if error is PostgresConnectionLost { return StoreError.unavailable("PostgreSQL: the connection was closed") }
        guard let error = error as? PSQLError else { return error }
        if let message = error.serverInfo?[.message] {
            let code = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return StoreError.unavailable("PostgreSQL: \(message)\(code)")
        }
        let cause = error.underlying.map { ": \($0)" } ?? ""
        return StoreError.unavailable("PostgreSQL unreachable: \(error.code.description)\(cause)")
    }

    /// True for a failure of the connection rather than of the statement: the work may be tried again. Asked of
    /// PostgreSQL's own errors, before ``translating(_:)`` words them for the caller.
    static func isConnectionFailure(_ error: any Error) -> Bool {
        if error is PostgresConnectionLost { return true }
        guard let error = error as? PSQLError else { return false }
        if let state = error.serverInfo?[.sqlState] {
            // Class 08: connection exceptions; 57P01-57P03: the server shutting down or starting.
            return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
        }
        return true
    }
}
