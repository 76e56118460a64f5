import ArgumentParser
import Foundation
import OspreyCore

/// `osprey secrets`: the encrypted store, used directly on the home (restart the gateway to pick up changes).
struct SecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets",
        abstract: "Store, list and remove encrypted secrets (referenced as ${secret:NAME}).",
        subcommands: [Set.self, List.self, Remove.self]
    )

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Store a secret; the value is read from stdin (so it stays out of shell history)."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Name, as in ${secret:NAME}.") var name: String

        func run() async throws {
            try await report {
                let input = FileHandle.standardInput.readDataToEndOfFile()
                let value = String(decoding: input, as: UTF8.self).trimmingCharacters(in: .newlines)
                let home = options.resolved
                try home.bootstrap()
                try SecretStore(home: home).set(name, value: value)
                FileHandle.standardError.write(Data("stored secret \(name); restart the gateway to use it\n".utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List secret names (never values)."
        )
        @OptionGroup var options: HomeOptions

        func run() async throws {
            try await report {
                for name in try SecretStore(home: options.resolved).names() { print(name) }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a secret.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "Name.") var name: String

        func run() async throws {
            try await report {
                guard try SecretStore(home: options.resolved).remove(name) else {
                    throw CLIError("no secret named '\(name)'")
                }
                print("removed \(name)")
            }
        }
    }
}
