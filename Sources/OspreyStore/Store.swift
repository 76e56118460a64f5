public import CoreMetrics
public import Foundation
public import GRDB
public import OspreyCore

/// The gateway's SQLite database: one file in WAL mode, migrated on open, one serialized writer.
///
/// There is no protocol in front of it. Tests use ``inMemory(ledgerKey:)``, which runs the same SQL.
public struct Store: Sendable {
    /// How hard a commit tries to survive power loss.
    public enum Durability: String, Sendable {
        /// `synchronous = FULL`: the WAL is fsynced at every commit.
        case full
        /// `synchronous = NORMAL`: fsync at checkpoints only; a crash of the process alone loses nothing.
        case normal
    }

    /// The database itself, for reads and for tests that must reach under the repositories.
    public let writer: any DatabaseWriter
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

    public init(
        writer: any DatabaseWriter,
        ledgerKey: [UInt8],
        bus: EventBus = EventBus(),
        redactor: Redactor = Redactor(),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws {
        self.writer = writer
        try Self.migrator.migrate(writer)
        let commits = GroupCommit(writer: writer, bus: bus, metrics: metrics)
        self.commits = commits
        let writer = commits
        let ledger = Ledger(writer: writer, signer: HeadSigner(key: ledgerKey), bus: bus, redactor: redactor)
        self.ledger = ledger
        let spending = Spending(writer: writer, ledger: ledger)
        self.spending = spending
        self.sessions = Sessions(writer: writer, ledger: ledger, spending: spending)
        self.tokens = Tokens(writer: writer, ledger: ledger)
        self.approvals = Approvals(writer: writer, ledger: ledger)
        let tasks = Tasks(writer: writer, ledger: ledger)
        self.tasks = tasks
        self.workflowSteps = WorkflowSteps(writer: writer, ledger: ledger, tasks: tasks)
        let schedules = Schedules(writer: writer, ledger: ledger)
        self.schedules = schedules
        self.budgets = Budgets(writer: writer, ledger: ledger, schedules: schedules.triggerCache)
        self.provenance = Provenance(writer: writer, ledger: ledger)
        self.memories = Memories(writer: writer, ledger: ledger)
        self.seeds = Seeds(writer: writer, ledger: ledger)
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
            // Not in `prepareDatabase`: the pool's WAL set-up runs after that hook and resets `synchronous` to
            // NORMAL. The pool has one writer connection for its lifetime, so setting it there, now, holds.
            if !readOnly {
                try pool.barrierWriteWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
                }
            }
            return try Store(writer: pool, ledgerKey: ledgerKey, bus: bus, redactor: redactor, metrics: metrics)
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

    /// `PRAGMA synchronous` on the writer connection, the one that commits: 2 is FULL, 1 NORMAL, 0 OFF.
    public func writerSynchronous() async throws -> Int {
        try await writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// `PRAGMA integrity_check`: "ok" or the first problems SQLite reports.
    public func integrityCheck() async throws -> [String] {
        try await writer.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        ts TEXT NOT NULL,
                        type TEXT NOT NULL,
                        actor TEXT NOT NULL,
                        session TEXT,
                        task TEXT,
                        payload TEXT NOT NULL,
                        prev_hash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    CREATE INDEX events_by_type ON events(type, seq);
                    CREATE INDEX events_by_session ON events(session, seq);
                    -- The ledger is append-only: the gateway never updates or deletes an event.
                    CREATE TRIGGER events_are_immutable BEFORE UPDATE ON events
                        BEGIN SELECT RAISE(ABORT, 'events are immutable'); END;
                    CREATE TRIGGER events_are_permanent BEFORE DELETE ON events
                        BEGIN SELECT RAISE(ABORT, 'events are permanent'); END;
                    -- The last event's seq and hash, signed with a key kept outside the database.
                    CREATE TABLE ledger_head (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        seq INTEGER NOT NULL,
                        hash TEXT NOT NULL,
                        signature TEXT NOT NULL
                    );
                    CREATE TABLE sessions (
                        id TEXT PRIMARY KEY,
                        agent TEXT NOT NULL,
                        title TEXT,
                        created_at TEXT NOT NULL,
                        updated_at TEXT NOT NULL
                    );
                    CREATE TABLE messages (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                        role TEXT NOT NULL,
                        content TEXT NOT NULL,
                        created_at TEXT NOT NULL
                    );
                    CREATE INDEX messages_by_session ON messages(session_id, seq);
                    CREATE TABLE tokens (
                        id TEXT PRIMARY KEY,
                        name TEXT NOT NULL,
                        role TEXT NOT NULL,
                        digest TEXT NOT NULL UNIQUE,
                        created_at TEXT NOT NULL,
                        revoked_at TEXT
                    );
                    """
            )
        }
        migrator.registerMigration("v2-usage") { db in
            try db.execute(
                sql: """
                    -- Tokens and cost per agent per UTC day, settled with each llm.call event: the daily budget's ground truth.
                    CREATE TABLE usage_daily (
                        agent TEXT NOT NULL,
                        day TEXT NOT NULL,
                        tokens INTEGER NOT NULL DEFAULT 0,
                        cost_usd REAL NOT NULL DEFAULT 0,
                        PRIMARY KEY (agent, day)
                    );
                    """
            )
        }
        migrator.registerMigration("v3-approvals") { db in
            try db.execute(
                sql: """
                    -- Tool calls waiting for (or decided by) a human, bound to a hash of their exact arguments.
                    CREATE TABLE approvals (
                        id TEXT PRIMARY KEY,
                        agent TEXT NOT NULL,
                        session TEXT,
                        call_id TEXT NOT NULL,
                        tool TEXT NOT NULL,
                        arguments TEXT NOT NULL,
                        arguments_hash TEXT NOT NULL,
                        risk TEXT NOT NULL,
                        rule TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        status TEXT NOT NULL,        -- pending | granted | denied | expired | used
                        scope TEXT,                  -- once | session, when granted
                        created_at TEXT NOT NULL,
                        expires_at TEXT NOT NULL,
                        decided_at TEXT,
                        decided_by TEXT
                    );
                    CREATE INDEX approvals_by_status ON approvals(status, created_at);
                    CREATE INDEX approvals_by_grant ON approvals(session, tool, arguments_hash, status);
                    -- A token bound to an agent acts for that agent and may never grant approvals.
                    ALTER TABLE tokens ADD COLUMN agent TEXT;
                    """
            )
        }
        migrator.registerMigration("v4-tasks") { db in
            try db.execute(
                sql: """
                    -- Background agent work. The transcript of each task is its own session's messages.
                    CREATE TABLE tasks (
                        id TEXT PRIMARY KEY,
                        title TEXT NOT NULL,
                        instructions TEXT NOT NULL,
                        agent TEXT NOT NULL,
                        tools TEXT,                  -- JSON array, or NULL for the agent's own tool set
                        priority INTEGER NOT NULL,   -- 0 (lowest) ... 9 (highest)
                        status TEXT NOT NULL,        -- queued | running | completed | failed | cancelled
                        parent TEXT REFERENCES tasks(id),
                        depth INTEGER NOT NULL,
                        session TEXT NOT NULL,
                        schedule TEXT,
                        result TEXT,
                        error TEXT,
                        tokens INTEGER NOT NULL DEFAULT 0,
                        cost_usd REAL NOT NULL DEFAULT 0,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        created_at TEXT NOT NULL,
                        started_at TEXT,
                        finished_at TEXT,
                        heartbeat_at TEXT
                    );
                    CREATE INDEX tasks_by_status ON tasks(status, priority DESC, created_at);
                    CREATE TABLE schedules (
                        id TEXT PRIMARY KEY,
                        name TEXT NOT NULL,
                        spec TEXT,                   -- cron, @every, @at; NULL for an event trigger
                        timezone TEXT NOT NULL,
                        missed TEXT NOT NULL,        -- skip | run_once
                        trigger_event TEXT,          -- event type (or prefix.*) that fires it
                        trigger_filter TEXT,         -- JSON object: payload fields that must match
                        cooldown_seconds INTEGER NOT NULL DEFAULT 0,
                        agent TEXT NOT NULL,
                        title TEXT NOT NULL,
                        instructions TEXT NOT NULL,
                        tools TEXT,
                        priority INTEGER NOT NULL,
                        created_at TEXT NOT NULL,
                        last_fired_at TEXT,
                        next_fire_at TEXT
                    );
                    """
            )
        }
        migrator.registerMigration("v5-routines") { db in
            try db.execute(
                sql: """
                    -- A routine: deterministic checks first; the agent only when an observation changed.
                    ALTER TABLE schedules ADD COLUMN checks TEXT;       -- JSON array of checks, NULL for a plain schedule
                    ALTER TABLE schedules ADD COLUMN remediation TEXT; -- a command run (sandboxed) when a check changes
                    ALTER TABLE schedules ADD COLUMN state TEXT;       -- JSON: the last observation of each check
                    """
            )
        }
        migrator.registerMigration("v6-memory") { db in
            try db.execute(
                sql: """
                    -- The memory index, derived from memory/*.md and rebuildable from them (osprey memory reindex).
                    CREATE TABLE memories (
                        id TEXT PRIMARY KEY,
                        file TEXT NOT NULL,
                        type TEXT NOT NULL,
                        tags TEXT NOT NULL,          -- JSON array
                        source TEXT NOT NULL,
                        provenance TEXT NOT NULL,
                        trust TEXT NOT NULL,
                        importance REAL NOT NULL,
                        created_at TEXT NOT NULL,
                        last_used_at TEXT,
                        title TEXT,
                        body TEXT NOT NULL,
                        content_hash TEXT NOT NULL,
                        embedding BLOB,              -- little-endian Float32, unit length
                        embedded_with TEXT
                    );
                    CREATE VIRTUAL TABLE memory_fts USING fts5(
                        id UNINDEXED, title, body, tags, tokenize = 'porter unicode61'
                    );
                    -- Query embeddings, so the same question is embedded once.
                    CREATE TABLE query_embeddings (
                        model TEXT NOT NULL,
                        query TEXT NOT NULL,
                        embedding BLOB NOT NULL,
                        PRIMARY KEY (model, query)
                    );
                    """
            )
        }
        migrator.registerMigration("v7-task-budgets") { db in
            try db.execute(
                sql: """
                    -- Per-task limits (0: none); a task's tokens and cost_usd include its sub-tasks' spending.
                    ALTER TABLE tasks ADD COLUMN max_tokens INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE tasks ADD COLUMN max_cost_usd REAL NOT NULL DEFAULT 0;
                    ALTER TABLE schedules ADD COLUMN max_tokens INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE schedules ADD COLUMN max_cost_usd REAL NOT NULL DEFAULT 0;
                    """
            )
        }
        migrator.registerMigration("v7-token-limits") { db in
            try db.execute(
                sql: """
                    ALTER TABLE tokens ADD COLUMN expires_at TEXT;  -- RFC 3339; NULL: never
                    ALTER TABLE tokens ADD COLUMN scopes TEXT;      -- comma-separated route groups; NULL: all
                    """
            )
        }
        migrator.registerMigration("v8-file-provenance") { db in
            try db.execute(
                sql: """
                    -- Workspace files written by a run with untrusted content in its context (absolute paths).
                    CREATE TABLE file_provenance (
                        path TEXT PRIMARY KEY,
                        session TEXT,
                        agent TEXT NOT NULL,
                        written_at TEXT NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("v9-task-taint") { db in
            try db.execute(
                sql: """
                    -- Taint follows work: a task or schedule created by a tainted run starts its runs tainted.
                    ALTER TABLE tasks ADD COLUMN tainted INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE schedules ADD COLUMN tainted INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE schedules ADD COLUMN parent TEXT;  -- the task whose run created it
                    """
            )
        }
        migrator.registerMigration("v10-memory-fts-rowids") { db in
            try db.execute(
                sql: """
                    -- A memory's full-text row shares its rowid, so replacing or removing it is a key lookup, not a
                    -- scan of the whole full-text table (its id column is UNINDEXED).
                    DELETE FROM memory_fts;
                    INSERT INTO memory_fts (rowid, id, title, body, tags)
                        SELECT rowid, id, coalesce(title, ''), body,
                            coalesce((SELECT group_concat(value, ' ') FROM json_each(memories.tags)), '')
                        FROM memories;
                    """
            )
        }
        migrator.registerMigration("v11-workflows") { db in
            try db.execute(
                sql: """
                    -- A workflow run is a task (its instructions are its inputs as JSON); a schedule may fire one.
                    ALTER TABLE tasks ADD COLUMN workflow TEXT;
                    ALTER TABLE schedules ADD COLUMN workflow TEXT;
                    -- Where each step of a workflow run stands, so a run resumes after a crash without repeating
                    -- a finished step.
                    CREATE TABLE workflow_steps (
                        task TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        status TEXT NOT NULL,  -- running | done | failed | blocked
                        child TEXT,            -- the task a prompt step runs as
                        output TEXT,
                        error TEXT,
                        untrusted INTEGER NOT NULL DEFAULT 0,
                        updated_at TEXT NOT NULL,
                        PRIMARY KEY (task, name)
                    );
                    """
            )
        }
        migrator.registerMigration("v12-schedule-pause") { db in
            try db.execute(sql: "ALTER TABLE schedules ADD COLUMN paused INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v13-budgets") { db in
            try db.execute(
                sql: """
                    -- Budgets beyond config.toml: an operator's overrides (NULL: config's value), the day the 80 %
                    -- warning went out, and the day the agent's schedules were paused at 100 %.
                    CREATE TABLE budgets (
                        agent TEXT PRIMARY KEY,
                        tokens_per_day INTEGER,
                        cost_per_day_usd REAL,
                        tokens_per_run INTEGER,
                        cost_per_run_usd REAL,
                        warned_day TEXT,
                        paused_day TEXT
                    );
                    """
            )
        }
        migrator.registerMigration("v14-task-context") { db in
            // The conversation a task belongs to (an A2A contextId): tasks of one context see each other's exchanges.
            try db.execute(sql: "ALTER TABLE tasks ADD COLUMN context TEXT")
            try db.execute(sql: "CREATE INDEX tasks_context ON tasks(context, created_at) WHERE context IS NOT NULL")
        }
        migrator.registerMigration("v15-personas") { db in
            // The persona a session's runs and a task's run act in (nil: the agent as configured).
            try db.execute(sql: "ALTER TABLE sessions ADD COLUMN persona TEXT")
            try db.execute(sql: "ALTER TABLE tasks ADD COLUMN persona TEXT")
        }
        migrator.registerMigration("v16-seeds") { db in
            try db.execute(
                sql: """
                    -- Seeds: immutable specifications, one row per generation of a lineage.
                    CREATE TABLE seeds (
                        id TEXT PRIMARY KEY,
                        lineage TEXT NOT NULL,
                        generation INTEGER NOT NULL,
                        parent TEXT REFERENCES seeds(id),
                        document TEXT NOT NULL,
                        sha256 TEXT NOT NULL,
                        changes TEXT,
                        created_at TEXT NOT NULL,
                        UNIQUE (lineage, generation)
                    );
                    """
            )
        }
        return migrator
    }
}
