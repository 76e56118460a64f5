import ArgumentParser
import Foundation
import OspreyCore
import OspreyStore

/// `osprey store`: the home's database and the PostgreSQL database several gateways share.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Copy the home's ledger into a cluster's PostgreSQL database, and verify the cluster's ledger.",
        subcommands: [Migrate.self, Verify.self]
    )

    /// Where the PostgreSQL database is, what to call this node, and where its password comes from.
    struct Connection: ParsableArguments {
        @Option(
            name: [.customLong("to"), .customLong("url")],
            help: "postgres://USER@HOST:PORT/DATABASE, or postgres://USER@/DATABASE?host=SOCKET_DIR"
        )
        var url: String
        @Option(help: "The secret (osprey secrets set NAME) that holds the password; else $PGPASSWORD.")
        var passwordSecret: String?

        func store(_ home: Home) throws -> PostgresStore {
            var target = try PostgresTarget(url: url)
            if let passwordSecret {
                target.password = try SecretStore(home: home).value(passwordSecret)
            } else if target.password == nil, let password = ProcessInfo.processInfo.environment["PGPASSWORD"] {
                target.password = password
            }
            let node = ProcessInfo.processInfo.hostName + "-cli"
            return PostgresStore(target: target, node: node, ledgerKey: try home.readLedgerKey(), connections: 2)
        }
    }

    static func line(_ name: String, _ result: LedgerVerification) -> String {
        result.ok
            ? "\(name): ok, \(result.count) events, head \(result.head)"
            : "\(name): BROKEN at seq \(result.firstBadSeq ?? 0): \(result.reason ?? "")"
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate",
            abstract: "Copy the home's ledger into PostgreSQL, every event with its seq and hash, then verify both.",
            discussion: """
                Creates the tables when they are missing. Only what the database does not hold yet is copied, so \
                an interrupted copy is run again to finish it; a database that holds another chain is refused. \
                The cluster's gateways sign the head with this home's ledger key: give them the same key file.
                """
        )
        @OptionGroup var options: HomeOptions
        @OptionGroup var connection: Connection

        func run() async throws {
            try await report {
                let home = options.resolved
                let source = try AuditCommand.openStore(home)
                let target = try connection.store(home)
                let report = try await target.withRunning { target in
                    try await PostgresMigration.copyLedger(from: source, to: target)
                }
                print("copied \(report.copied) events to \(target.target)")
                print(StoreCommand.line("home", report.source))
                print(StoreCommand.line("postgres", report.target))
                if !report.source.ok || !report.target.ok { throw ExitCode(1) }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check the cluster ledger's hashes, links and signed head (from any node, with the home's key)."
        )
        @OptionGroup var options: HomeOptions
        @OptionGroup var connection: Connection
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await report {
                let store = try connection.store(options.resolved)
                let result = try await store.withRunning { try await $0.ledger.verify() }
                if json {
                    printJSON(try JSONValue(encoding: result))
                } else {
                    print(StoreCommand.line("postgres", result))
                }
                if !result.ok { throw ExitCode(1) }
            }
        }
    }
}
