import ArgumentParser
import Foundation
import OspreyCore
import OspreyGateway
import OspreyStore

/// `osprey audit`: works on the database directly, so it also runs while the gateway is down.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify or export the hash-chained ledger.",
        subcommands: [Verify.self, Export.self]
    )

    /// The home's configured store: its SQLite file, or the PostgreSQL database its `[store]` names (then any
    /// node of the cluster verifies the one chain).
    static func openConfiguredStore(_ home: Home) async throws -> Store {
        let exists = FileManager.default.fileExists(atPath: home.configFile.path)
        let config = exists ? try OspreyConfig.load(from: home.configFile) : OspreyConfig()
        guard config.store.backend == .postgres else { return try openStore(home) }
        return try await Kernel.openStore(home: home, config: config, durability: .normal, telemetry: Telemetry())
    }

    /// The home's SQLite file.
    static func openStore(_ home: Home) throws -> Store {
        guard FileManager.default.fileExists(atPath: home.databaseFile.path) else {
            throw CLIError("no database at \(home.databaseFile.path): start the gateway once first", exitCode: 2)
        }
        return try Store.open(path: home.databaseFile.path, ledgerKey: try home.readLedgerKey(), durability: .normal)
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check every event's hash, the chain links and the signed head."
        )
        @OptionGroup var options: HomeOptions
        @Flag(help: "Print JSON.") var json = false
        @Option(help: "Also check every signed head this witness file holds ([ledger] witness).") var witness: String?

        func run() async throws {
            try await report {
                let ledger = try await openConfiguredStore(options.resolved).ledger
                let result: LedgerVerification
                if let witness {
                    guard let text = try? String(contentsOfFile: witness, encoding: .utf8) else {
                        throw CLIError("cannot read the witness file \(witness)", exitCode: 2)
                    }
                    result = try await ledger.verify(witness: text)
                } else {
                    result = try await ledger.verify()
                }
                if json {
                    printJSON(try JSONValue(encoding: result))
                } else if result.ok {
                    print("ok: \(result.count) events, head \(result.head)")
                } else {
                    print("BROKEN at seq \(result.firstBadSeq ?? 0): \(result.reason ?? "")")
                }
                if !result.ok { throw ExitCode(1) }
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write the ledger as JSON Lines (canonical envelopes), for independent verification."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "Only events after this seq.") var after = 0
        @Option(name: .shortAndLong, help: "Write to this file instead of stdout.") var output: String?

        func run() async throws {
            try await report {
                let store = try await openConfiguredStore(options.resolved)
                let handle: FileHandle
                if let output {
                    guard FileManager.default.createFile(atPath: output, contents: nil) else {
                        throw CLIError("cannot create \(output)")
                    }
                    handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
                } else {
                    handle = FileHandle.standardOutput
                }
                let count = try await store.ledger.export(after: after) { line in handle.write(Data((line + "\n").utf8))
                }
                if output != nil {
                    try handle.close()
                    FileHandle.standardError.write(Data("exported \(count) events\n".utf8))
                }
            }
        }
    }
}
