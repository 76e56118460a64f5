import ArgumentParser
import Foundation
import NIOHTTP1
import OspreyCore

/// `osprey memory`: long-term memories.
struct MemoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Add, search, show, forget and reindex memories (Markdown files under memory/).",
        subcommands: [Add.self, Search.self, Show.self, Forget.self, Reindex.self]
    )

    struct Add: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Store a memory; prints its id."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "fact, preference, procedure, episode or lesson.") var type = "fact"
        @Option(help: "A short title.") var title: String?
        @Option(help: "Comma-separated tags.") var tags: String?
        @Option(help: "0 to 1.") var importance = 0.5
        @Argument(help: "What to remember.") var content: String

        func run(_ gateway: GatewayClient) async throws {
            var body: [String: JSONValue] = [
                "content": .string(content), "type": .string(type), "importance": .double(importance),
            ]
            if let title { body["title"] = .string(title) }
            if let tags { body["tags"] = .array(tags.split(separator: ",").map { .string(String($0)) }) }
            print(try await gateway.create("/api/memory", body))
        }
    }

    struct Search: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "search",
            abstract: "Hybrid search (keywords + meaning)."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "Most results.") var limit = 10
        @Flag(help: "Print the API's JSON.") var json = false
        @Argument(help: "The query.") var query: String

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(
                .POST,
                "/api/memory/search",
                body: ["query": .string(query), "limit": .int(limit)]
            )
            if json { return print(result.canonicalJSON) }
            for hit in result["results"]?.arrayValue ?? [] {
                let score = hit["score"]?.doubleValue ?? 0
                let title = hit["title"]?.stringValue.map { $0 + ": " } ?? ""
                print(
                    String(format: "%.4f  ", score)
                        + "\(hit["id"]?.stringValue ?? "")  [\(hit["type"]?.stringValue ?? ""), \(hit["trust"]?.stringValue ?? "")]  \(title)\(hit["body"]?.stringValue?.prefix(120) ?? "")"
                )
            }
        }
    }

    struct Show: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "One memory."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Memory id.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            let record = try await gateway.request(.GET, "/api/memory/\(id)")
            print(record.canonicalJSON)
        }
    }

    struct Forget: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "forget",
            abstract: "Delete a memory."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Memory id.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            _ = try await gateway.request(.DELETE, "/api/memory/\(id)")
            print("forgot \(id)")
        }
    }

    struct Reindex: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "reindex",
            abstract: "Rebuild the index from the Markdown files."
        )
        @OptionGroup var options: HomeOptions

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(.POST, "/api/memory/reindex")
            print(
                "indexed \(result["indexed"]?.intValue ?? 0), unchanged \(result["unchanged"]?.intValue ?? 0), removed \(result["removed"]?.intValue ?? 0)"
            )
            let invalid = result["invalid"]?.objectValue ?? [:]
            for (file, reason) in invalid.sorted(by: { $0.key < $1.key }) {
                FileHandle.standardError.write(Data("invalid memory/\(file): \(reason.stringValue ?? "")\n".utf8))
            }
            if !invalid.isEmpty { throw ExitCode(1) }
        }
    }
}
