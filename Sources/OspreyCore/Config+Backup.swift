import Foundation

extension OspreyConfig {
    /// `[backup]`: backups the gateway takes by itself, on a schedule, with retention.
    public struct Backup: Hashable, Sendable {
        /// When: a cron expression (`0 3 * * *`, `@daily`) or `@every 6h`; nil takes none on its own
        /// (`osprey backup create` and `POST /api/backups` still do).
        public var schedule: String?
        /// Where backups are kept; nil is the home's `backups/`.
        public var directory: String?
        /// Keep the newest backup of each of this many last days, and of each of this many last weeks.
        public var keepDaily = 7
        public var keepWeekly = 4
        /// `${secret:NAME}` or `${env:VAR}`: backups are encrypted with this passphrase (scrypt, AES-GCM).
        public var passphrase: String?

        public init() {}
    }
}

extension ConfigReader {
    func backup(_ table: [String: JSONValue]) throws -> OspreyConfig.Backup {
        let section = try section(
            table,
            name: "backup",
            known: ["schedule", "directory", "keep_daily", "keep_weekly", "passphrase"]
        )
        var backup = OspreyConfig.Backup()
        backup.schedule = try section.string("schedule")
        backup.directory = try section.string("directory")
        if let directory = backup.directory, !directory.hasPrefix("/") {
            throw ConfigError("config.toml: backup.directory must be an absolute path")
        }
        try section.read("keep_daily", 0...3650, into: &backup.keepDaily)
        try section.read("keep_weekly", 0...520, into: &backup.keepWeekly)
        guard backup.keepDaily + backup.keepWeekly > 0 else {
            throw ConfigError("config.toml: backup keeps nothing (keep_daily and keep_weekly are both 0)")
        }
        backup.passphrase = try section.string("passphrase")
        if let passphrase = backup.passphrase, !(passphrase.hasPrefix("${secret:") || passphrase.hasPrefix("${env:")) {
            throw ConfigError(
                "config.toml: backup.passphrase must be \"${secret:NAME}\" or \"${env:VAR}\", never in clear"
            )
        }
        return backup
    }
}
