import Foundation
public import Logging
import OspreyCore
import OspreyHost
import OspreyScheduler
import OspreyStore
public import ServiceLifecycle

/// The gateway's own backups (`[backup]`): taken on its schedule or when an admin asks, pruned by retention, each
/// one recorded in the ledger (`backup.created`, or `backup.failed` with why).
struct BackupJob: Sendable {
    let home: Home
    let directory: URL
    let keepDaily: Int
    let keepWeekly: Int
    let passphrase: String?
    let schedule: ScheduleSpec?
    let ledger: Ledger
    /// Why backups cannot be taken here, if they cannot: a home whose store is a PostgreSQL database has no SQLite
    /// file to copy (the database is backed up with PostgreSQL's own tools).
    let refusal: String?

    /// The job `[backup]` describes; a schedule that does not parse or a passphrase that does not resolve is a
    /// configuration error at start-up.
    init(
        settings: OspreyConfig.Backup,
        home: Home,
        secrets: SecretStore,
        ledger: Ledger,
        store: SQLDialect = .sqlite
    )
        throws
    {
        self.home = home
        refusal =
            store == .sqlite
            ? nil : "the store is a PostgreSQL database: back it up with pg_dump or the server's own backups"
        if let refusal, settings.schedule != nil { throw ConfigError("[backup] schedule: \(refusal)") }
        directory = settings.directory.map { URL(fileURLWithPath: $0) } ?? home.root.appendingPathComponent("backups")
        keepDaily = settings.keepDaily
        keepWeekly = settings.keepWeekly
        passphrase = try AgentRuntime.resolve(settings.passphrase, owner: "[backup] passphrase", secrets: secrets)
        if settings.passphrase != nil, (passphrase ?? "").count < 8 {
            throw ConfigError("[backup] passphrase: \(settings.passphrase!) is not set or shorter than 8 characters")
        }
        do {
            schedule = try settings.schedule.map { try ScheduleSpec(parsing: $0) }
        } catch {
            throw ConfigError("[backup] schedule: \(error)")
        }
        self.ledger = ledger
    }

    /// Takes a backup now and applies retention; the outcome is in the ledger either way.
    @discardableResult
    func run(actor: Principal = .system) async throws -> JSONValue {
        if let refusal { throw StoreError.conflict(refusal) }
        do {
            let (folder, manifest) = try await Backups.create(home: home, into: directory, passphrase: passphrase)
            let pruned = Backups.prune(in: directory, keepDaily: keepDaily, keepWeekly: keepWeekly)
            let summary: JSONValue = [
                "folder": .string(folder.path), "files": .int(manifest.files.count),
                "events": .int(manifest.ledger.count), "head": .string(manifest.ledger.head),
                "sessions": .int(manifest.sessions), "memories": .int(manifest.memories),
                "encrypted": .bool(manifest.kdf != nil),
                "pruned": .array(pruned.map { .string($0.lastPathComponent) }),
            ]
            try await ledger.append(EventDraft(type: .backupCreated, actor: actor, payload: summary))
            return summary
        } catch {
            try await ledger.append(
                EventDraft(type: .backupFailed, actor: actor, payload: ["error": .string("\(error)")])
            )
            throw error
        }
    }

    /// The backups kept, oldest first.
    func list() -> [JSONValue] {
        Backups.list(in: directory).map { folder, manifest in
            [
                "folder": .string(folder.path), "created_at": .string(manifest.createdAt),
                "events": .int(manifest.ledger.count), "files": .int(manifest.files.count),
                "encrypted": .bool(manifest.kdf != nil),
            ]
        }
    }
}

/// Takes the `[backup]` schedule's backups until shutdown. A missed time (the gateway was down) is not made up
/// for: the next one is counted from now.
struct BackupService: Service {
    let job: BackupJob
    let schedule: ScheduleSpec
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var from = Date()
            while let next = schedule.nextFire(after: from, in: .current) {
                do {
                    try await Task.sleep(for: .seconds(max(0, next.timeIntervalSinceNow)))
                } catch {
                    return  // shutdown
                }
                do {
                    try await job.run()
                } catch {
                    logger.error("scheduled backup failed", metadata: ["error": "\(error)"])
                }
                from = max(next, Date())
            }
        }
    }
}
