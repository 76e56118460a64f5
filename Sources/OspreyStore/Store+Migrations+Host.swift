import GRDB

extension Store {
    /// The tables of chat channels (v20), SafeSwitch (v21) and incidents (v22), in their order after v19.
    static func registerChannelsAndHost(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v20-channels") { db in
            try db.execute(
                sql: """
                    -- Chat platform senders an operator paired (or revoked): the channel's allowlist beyond config.toml.
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
                    -- Pairing codes handed to unknown senders: only the code's SHA-256 is kept.
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
                    -- Each chat is a session of its own.
                    CREATE TABLE channel_chats (
                        channel TEXT NOT NULL,
                        chat TEXT NOT NULL,
                        session TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                        PRIMARY KEY (channel, chat)
                    );
                    -- Where each channel's updates were read up to (Telegram's offset, Matrix's since token).
                    CREATE TABLE channel_cursors (
                        channel TEXT PRIMARY KEY,
                        cursor TEXT NOT NULL,
                        updated_at TEXT NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("v21-switches") { db in
            try db.execute(
                sql: """
                    -- SafeSwitch changes: applied after a snapshot, kept only if committed during probation.
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
                    """
            )
        }
        migrator.registerMigration("v22-incidents") { db in
            try db.execute(
                sql: """
                    -- Troubleshooting records: an incident and its steps (observation, hypothesis, action, result).
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
                    """
            )
        }
        migrator.registerMigration("v23-task-nodes") { db in
            // The gateway running a task, when several share one PostgreSQL database: a running task belongs to the
            // node that claimed it, and only that node resumes it after a restart ("" on SQLite: the one gateway).
            try db.execute(sql: "ALTER TABLE tasks ADD COLUMN node TEXT")
        }
        migrator.registerMigration("v24-schedule-firings") { db in
            // The events each trigger schedule fired for: when several gateways hear the same event, the one whose
            // insert lands fires (the primary key is the claim).
            try db.execute(
                sql: """
                    CREATE TABLE schedule_firings (
                        schedule TEXT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
                        event INTEGER NOT NULL,
                        PRIMARY KEY (schedule, event)
                    );
                    """
            )
        }
        migrator.registerMigration("v25-task-providers") { db in
            // The provider a running task's model calls go to, for the per-provider cap of several gateways.
            try db.execute(sql: "ALTER TABLE tasks ADD COLUMN provider TEXT")
        }
        migrator.registerMigration("v26-tainted-commands") { db in
            // The commands of tainted runs under way: what they change is recorded as tainted when they end, and by
            // the next start of their gateway (`node`) when it died while they ran.
            try db.execute(
                sql: """
                    CREATE TABLE tainted_commands (
                        id TEXT PRIMARY KEY,
                        node TEXT NOT NULL,
                        session TEXT,
                        agent TEXT NOT NULL,
                        directories TEXT NOT NULL,  -- a JSON array of absolute paths
                        since TEXT NOT NULL
                    );
                    """
            )
        }
    }
}
