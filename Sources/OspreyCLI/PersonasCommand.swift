import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore

/// `osprey personas`: the personas runs may act in; an admin adds or removes the home's own.
struct PersonasCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "personas",
        abstract: "The personas a run may act in (osprey ask --persona NAME); add or remove your own (admin).",
        subcommands: [List.self, Show.self, Add.self, Remove.self],
        defaultSubcommand: List.self
    )

    struct List: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Every persona: name, source, what it is for."
        )
        @OptionGroup var options: HomeOptions
        @Flag(help: "Print the API's JSON.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(.GET, "/api/personas")
            if json { return print(result.canonicalJSON) }
            for persona in result["personas"]?.arrayValue ?? [] {
                let readOnly = persona["read_only"] == true ? "  (read-only)" : ""
                print(
                    "\(persona["name"]?.stringValue ?? "-")  [\(persona["source"]?.stringValue ?? "-")]  "
                        + "\(persona["description"]?.stringValue ?? "")\(readOnly)"
                )
            }
            for (file, reason) in result["failures"]?.objectValue ?? [:] {
                FileHandle.standardError.write(Data("personas/\(file): \(reason.stringValue ?? "")\n".utf8))
            }
        }
    }

    struct Show: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "One persona, as JSON."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The persona.") var name: String

        func run(_ gateway: GatewayClient) async throws {
            print(try await gateway.request(.GET, "/api/personas/\(name)").canonicalJSON)
        }
    }

    struct Add: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Write a persona of your own (admin): personas/NAME.md in the home."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Its name.") var name: String
        @Option(help: "One line: what it is for.") var description: String
        @Option(help: "Its instructions (or --file).") var instructions: String?
        @Option(help: "A file holding its instructions.") var file: String?
        @Option(help: "provider/model for its runs.") var model: String?
        @Option(help: "A tool it keeps of the agent's (repeat).") var tool: [String] = []
        @Option(help: "Sampling temperature, 0-2.") var temperature: Double?
        @Flag(help: "It may not write files or run commands.") var readOnly = false

        func run(_ gateway: GatewayClient) async throws {
            var text = instructions
            if let file { text = try String(contentsOfFile: file, encoding: .utf8) }
            guard let text else { throw CLIError("give --instructions or --file") }
            var body: [String: JSONValue] = [
                "description": .string(description), "instructions": .string(text), "read_only": .bool(readOnly),
            ]
            if let model { body["model"] = .string(model) }
            if !tool.isEmpty { body["tools"] = .array(tool.map(JSONValue.string)) }
            if let temperature { body["temperature"] = .double(temperature) }
            let persona = try await gateway.request(.PUT, "/api/personas/\(name)", body: .object(body))
            print("persona \(persona["name"]?.stringValue ?? name) written")
        }
    }

    struct Remove: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Remove a persona of your own (admin)."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The persona.") var name: String

        func run(_ gateway: GatewayClient) async throws {
            _ = try await gateway.request(.DELETE, "/api/personas/\(name)")
            print("persona \(name) removed")
        }
    }
}
