import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore
import OspreyHost

/// `osprey receipts`: signed statements of what an agent did, and their offline check against a ledger export.
struct ReceiptsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipts",
        abstract: "Create a signed receipt of a task, session or incident; verify one offline against a ledger export.",
        subcommands: [Create.self, Verify.self]
    )

    struct Create: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "A signed receipt of a task, a session or an incident."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "The task.") var task: String?
        @Option(help: "The session.") var session: String?
        @Option(help: "The incident (its steps and the events they point at).") var incident: String?
        @Option(name: .shortAndLong, help: "Write it to this file (default: stdout).") var output: String?

        func run(_ gateway: GatewayClient) async throws {
            var body: [String: JSONValue] = [:]
            if let task { body["task"] = .string(task) }
            if let session { body["session"] = .string(session) }
            if let incident { body["incident"] = .string(incident) }
            let receipt = try await gateway.request(.POST, "/api/receipts", body: .object(body))
            if let output {
                try (receipt.canonicalJSON + "\n").write(toFile: output, atomically: true, encoding: .utf8)
            } else {
                print(receipt.canonicalJSON)
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check a receipt's signature and that a ledger export (osprey audit export) holds what it covers."
        )
        @Argument(help: "The receipt (JSON).") var receipt: String
        @Option(help: "A ledger export (JSON Lines).") var export: String
        @Option(help: "Trust only this public key (hex).") var key: String?

        func run() async throws {
            try await report {
                guard let text = try? String(contentsOfFile: receipt, encoding: .utf8),
                    let value = try? JSONValue.parse(text.trimmingCharacters(in: .whitespacesAndNewlines))
                else { throw CLIError("cannot read the receipt \(receipt)", exitCode: 2) }
                guard let lines = try? String(contentsOfFile: export, encoding: .utf8) else {
                    throw CLIError("cannot read the export \(export)", exitCode: 2)
                }
                var events: [Event] = []
                for (number, line) in lines.split(separator: "\n").enumerated() {
                    guard let parsed = try? JSONValue.parse(String(line)), let event = Event(envelope: parsed) else {
                        throw CLIError("\(export): line \(number + 1) is not an event")
                    }
                    events.append(event)
                }
                let result = Receipts.verify(value, export: events, trustedKey: key)
                guard result.ok else { throw CLIError("receipt refused: \(result.reason ?? "")") }
                print(
                    "ok: \(value["kind"]?.stringValue ?? "") \(value["subject"]?.stringValue ?? ""), events \(value["ledger"]?["first_seq"]?.intValue ?? 0)...\(value["ledger"]?["last_seq"]?.intValue ?? 0), signed by \(value["public_key"]?.stringValue ?? "")"
                )
            }
        }
    }
}
