import GRDB

/// The schema, one migration per change, applied in order when a store opens.
extension Store {
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
        migrator.registerMigration("v17-spec-runs") { db in
            // The seed a spec-first run starts from (nil: not a spec run).
            try db.execute(sql: "ALTER TABLE tasks ADD COLUMN seed TEXT REFERENCES seeds(id)")
        }
        migrator.registerMigration("v18-interviews") { db in
            try db.execute(
                sql: """
                    -- Seed interviews: a goal clarified question by question (in its session) until it is a seed.
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
                    """
            )
        }
        migrator.registerMigration("v19-task-workspaces") { db in
            // The workspace a task's tools act in when it is not the home's (a speculative branch's copy).
            try db.execute(sql: "ALTER TABLE tasks ADD COLUMN workspace TEXT")
        }
        registerChannelsAndHost(in: &migrator)
        return migrator
    }
}
