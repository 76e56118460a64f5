import GRDB

/// A new database's schema in one script, instead of one migration after another.
///
/// A new home would otherwise run every migration, each in its own transaction with a re-read of the schema, before
/// the gateway first answers. The script is what the migrations through ``newDatabaseMigrations`` leave in
/// `sqlite_master` (the text SQLite keeps, `ALTER TABLE` additions included), and `StoreSchemaTests` checks that
/// the two give the same database. A later migration needs no change here: it runs after the script, as on any
/// database made before it.
extension Store {
    /// The migrations the script stands for, marked as applied when it runs.
    static let newDatabaseMigrations = [
        "v1", "v2-usage", "v3-approvals", "v4-tasks", "v5-routines", "v6-memory", "v7-task-budgets",
        "v7-token-limits", "v8-file-provenance", "v9-task-taint", "v10-memory-fts-rowids", "v11-workflows",
        "v12-schedule-pause", "v13-budgets", "v14-task-context", "v15-personas", "v16-seeds", "v17-spec-runs",
        "v18-interviews", "v19-task-workspaces", "v20-channels", "v21-switches", "v22-incidents", "v23-task-nodes",
        "v24-schedule-firings", "v25-task-providers",
    ]

    /// Makes an empty database's schema with the script and marks ``newDatabaseMigrations`` as applied, in one
    /// transaction; a database with any schema is left to the migrator.
    static func createSchemaIfEmpty(_ writer: any DatabaseWriter) throws {
        guard !writer.configuration.readonly else { return }
        try writer.write { db in
            guard try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") == 0 else { return }
            try db.execute(sql: newDatabaseSchema)
            for identifier in newDatabaseMigrations {
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [identifier])
            }
        }
    }

    static let newDatabaseSchema = """
        CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
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
        CREATE TRIGGER events_are_immutable BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are immutable'); END;
        CREATE TRIGGER events_are_permanent BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are permanent'); END;
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
        , persona TEXT);
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
        , agent TEXT, expires_at TEXT, scopes TEXT);
        CREATE TABLE usage_daily (
            agent TEXT NOT NULL,
            day TEXT NOT NULL,
            tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (agent, day)
        );
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
        , max_tokens INTEGER NOT NULL DEFAULT 0, max_cost_usd REAL NOT NULL DEFAULT 0, tainted INTEGER NOT NULL DEFAULT 0, workflow TEXT, context TEXT, persona TEXT, seed TEXT REFERENCES seeds(id), workspace TEXT, node TEXT, provider TEXT);
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
        , checks TEXT, remediation TEXT, state TEXT, max_tokens INTEGER NOT NULL DEFAULT 0, max_cost_usd REAL NOT NULL DEFAULT 0, tainted INTEGER NOT NULL DEFAULT 0, parent TEXT, workflow TEXT, paused INTEGER NOT NULL DEFAULT 0);
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
        CREATE TABLE query_embeddings (
            model TEXT NOT NULL,
            query TEXT NOT NULL,
            embedding BLOB NOT NULL,
            PRIMARY KEY (model, query)
        );
        CREATE TABLE file_provenance (
            path TEXT PRIMARY KEY,
            session TEXT,
            agent TEXT NOT NULL,
            written_at TEXT NOT NULL
        );
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
        CREATE TABLE budgets (
            agent TEXT PRIMARY KEY,
            tokens_per_day INTEGER,
            cost_per_day_usd REAL,
            tokens_per_run INTEGER,
            cost_per_run_usd REAL,
            warned_day TEXT,
            paused_day TEXT
        );
        CREATE INDEX tasks_context ON tasks(context, created_at) WHERE context IS NOT NULL;
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
        CREATE TABLE interviews (
            id TEXT PRIMARY KEY,
            goal TEXT NOT NULL,
            agent TEXT NOT NULL,
            session TEXT NOT NULL REFERENCES sessions(id),
            status TEXT NOT NULL,
            ambiguity REAL NOT NULL,
            scores TEXT NOT NULL,
            question TEXT,
            turns INTEGER NOT NULL,
            seed TEXT REFERENCES seeds(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE channel_senders (
            channel TEXT NOT NULL,
            sender TEXT NOT NULL,
            display TEXT NOT NULL,
            approver INTEGER NOT NULL DEFAULT 0,
            paired_at TEXT NOT NULL,
            paired_by TEXT NOT NULL,
            revoked_at TEXT,
            PRIMARY KEY (channel, sender)
        );
        CREATE TABLE channel_pairings (
            digest TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            sender TEXT NOT NULL,
            display TEXT NOT NULL,
            chat TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        );
        CREATE INDEX channel_pairings_sender ON channel_pairings (channel, sender);
        CREATE TABLE channel_chats (
            channel TEXT NOT NULL,
            chat TEXT NOT NULL,
            session TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            PRIMARY KEY (channel, chat)
        );
        CREATE TABLE channel_cursors (
            channel TEXT PRIMARY KEY,
            cursor TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE switches (
            id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            plan TEXT NOT NULL,
            actor TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            ended_at TEXT,
            outcome TEXT
        );
        CREATE INDEX switches_status ON switches (status);
        CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            severity TEXT NOT NULL,
            status TEXT NOT NULL,
            summary TEXT,
            actor TEXT NOT NULL,
            created_at TEXT NOT NULL,
            resolved_at TEXT
        );
        CREATE TABLE incident_steps (
            incident TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
            n INTEGER NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            events TEXT NOT NULL,
            command TEXT,
            actor TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (incident, n)
        );
        CREATE TABLE schedule_firings (
            schedule TEXT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
            event INTEGER NOT NULL,
            PRIMARY KEY (schedule, event)
        );
        """
}
