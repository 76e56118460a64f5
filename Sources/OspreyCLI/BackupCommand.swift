import ArgumentParser
import Foundation
import OspreyCore
import OspreyHost

/// `osprey backup`: consistent, verifiable (optionally encrypted) copies of a home, taken while the gateway runs.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract:
            "Back up a home (database, config, secrets, memory, skills, plugins), list, verify and restore backups.",
        subcommands: [Create.self, List.self, Verify.self, Restore.self]
    )

    /// The passphrase in `file` (its first line), or nil without one.
    static func passphrase(_ file: String?) throws -> String? {
        guard let file else { return nil }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw CLIError("cannot read the passphrase file \(file)", exitCode: 2)
        }
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard line.count >= 8 else { throw CLIError("a passphrase has at least 8 characters", exitCode: 2) }
        return line
    }

    static func folder(_ out: String?, _ home: Home) -> URL {
        out.map { URL(fileURLWithPath: $0) } ?? home.root.appendingPathComponent("backups")
    }

    /// Runs `body`, turning a refused backup into one line naming its file.
    static func checked(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as BackupError {
            throw CLIError("backup refused: \(error.description)")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Take a backup now (the gateway may be running), then apply retention."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "Where backups are kept (default: HOME/backups).") var out: String?
        @Option(help: "Encrypt with the passphrase on this file's first line (scrypt, AES-GCM).") var passphraseFile:
            String?
        @Option(help: "Keep the newest backup of each of this many last days.") var keepDaily = 7
        @Option(help: "Keep the newest backup of each of this many last weeks.") var keepWeekly = 4

        func run() async throws {
            try await report {
                let home = options.resolved
                guard FileManager.default.fileExists(atPath: home.databaseFile.path) else {
                    throw CLIError(
                        "no database at \(home.databaseFile.path): start the gateway once first",
                        exitCode: 2
                    )
                }
                let parent = BackupCommand.folder(out, home)
                try await BackupCommand.checked {
                    let (folder, manifest) = try await Backups.create(
                        home: home,
                        into: parent,
                        passphrase: try BackupCommand.passphrase(passphraseFile)
                    )
                    print(folder.path)
                    FileHandle.standardError.write(
                        Data(
                            "\(manifest.files.count) files, \(manifest.ledger.count) events, \(manifest.sessions) sessions, \(manifest.memories) memories\(manifest.kdf == nil ? "" : ", encrypted")\n"
                                .utf8
                        )
                    )
                }
                for pruned in Backups.prune(in: parent, keepDaily: keepDaily, keepWeekly: keepWeekly) {
                    FileHandle.standardError.write(Data("pruned \(pruned.lastPathComponent)\n".utf8))
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List backups, oldest first."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "Where backups are kept (default: HOME/backups).") var out: String?

        func run() async throws {
            try await report {
                let backups = Backups.list(in: BackupCommand.folder(out, options.resolved))
                if backups.isEmpty { FileHandle.standardError.write(Data("no backups\n".utf8)) }
                for (folder, manifest) in backups {
                    print(
                        "\(folder.path)  \(manifest.createdAt)  \(manifest.ledger.count) events  \(manifest.files.count) files\(manifest.kdf == nil ? "" : "  encrypted")"
                    )
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check every file of a backup and its ledger; exit 1 naming the first bad file."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The backup's folder.") var backup: String
        @Option(help: "The passphrase file of an encrypted backup.") var passphraseFile: String?

        func run() async throws {
            try await report {
                try await BackupCommand.checked {
                    let manifest = try await Backups.verify(
                        URL(fileURLWithPath: backup),
                        passphrase: try BackupCommand.passphrase(passphraseFile)
                    )
                    print(
                        "ok: \(manifest.files.count) files, \(manifest.ledger.count) events, head \(manifest.ledger.head)"
                    )
                }
            }
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore",
            abstract: "Verify a backup, then write it out as a new home (an empty or new folder)."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The backup's folder.") var backup: String
        @Option(help: "The new home.") var to: String
        @Option(help: "The passphrase file of an encrypted backup.") var passphraseFile: String?

        func run() async throws {
            try await report {
                try await BackupCommand.checked {
                    let manifest = try await Backups.restore(
                        URL(fileURLWithPath: backup),
                        to: URL(fileURLWithPath: to),
                        passphrase: try BackupCommand.passphrase(passphraseFile)
                    )
                    print("restored \(manifest.files.count) files to \(to): start it with osprey gateway --home \(to)")
                }
            }
        }
    }
}
