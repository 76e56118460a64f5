import ArgumentParser
import Foundation
import OspreyCore
import OspreyStore

/// `osprey store`: the home's database and the PostgreSQL database several gateways share.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Copy the home's store into a cluster's PostgreSQL database, and verify the cluster's ledger.",
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

        /// The cluster's store (its schema created or brought up to date), signing with the home's ledger key.
        func store(_ home: Home) async throws -> Store {
            var target = try PostgresTarget(url: url)
            if let passwordSecret {
                target.password = try SecretStore(home: home).value(passwordSecret)
            } else if target.password == nil, let password = ProcessInfo.processInfo.environment["PGPASSWORD"] {
                target.password = password
            }
            let node = ProcessInfo.processInfo.hostName + "-cli"
            return try await Store.open(postgres: target, node: node, ledgerKey: try home.readLedgerKey())
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
            abstract:
                "Copy the home's store into PostgreSQL (every table; each event with its seq and hash), then verify both.",
            discussion: """
                Creates the tables when they are missing, then copies every table the home's database holds: the \
                ledger and its signed head, sessions and messages, tokens, approvals, tasks, schedules, usage, \
                budgets, memories with their vectors and full text, and the rest. A row the database already holds \
                is left as it is, so an interrupted copy is run again to finish it; a database that holds another \
                chain is refused. The cluster's gateways sign the head with this home's ledger key: give them the \
                same key file. Stop the home's gateway first, so nothing changes during the copy.
                """
        )
        @OptionGroup var options: HomeOptions
        @OptionGroup var connection: Connection

        func run() async throws {
            try await report {
                let home = options.resolved
                let source = try AuditCommand.openStore(home)
                let target = try await connection.store(home)
                defer { target.close() }
                let report = try await source.copy(into: target)
                let rows = report.rows.values.reduce(0, +)
                print("copied \(rows) rows (\(report.events) events) to \(connection.url)")
                for (table, count) in report.rows.sorted(by: { $0.key < $1.key }) where count > 0 {
                    print("  \(table): \(count)")
                }
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
                let store = try await connection.store(options.resolved)
                defer { store.close() }
                let result = try await store.ledger.verify()
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
