import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import OspreyCore

struct SessionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "List, show, create and delete sessions.",
        subcommands: [List.self, Show.self, Create.self, Delete.self, Send.self]
    )

    struct List: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List sessions, most recent first."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "At most this many.") var limit = 100
        @Flag(help: "Print JSON.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(
                .GET,
                "/api/sessions?limit=\(limit)"
            )
            let sessions = result["sessions"]?.arrayValue ?? []
            if json { return printJSON(.array(sessions)) }
            if sessions.isEmpty { return print("no sessions") }
            for session in sessions {
                let id = session["id"]?.stringValue ?? "?"
                let agent = session["agent"]?.stringValue ?? "?"
                let count = session["message_count"]?.intValue ?? 0
                let updated = session["updated_at"]?.stringValue ?? ""
                print("\(id)  \(agent)  \(count) messages  \(updated)  \(session["title"]?.stringValue ?? "")")
            }
        }
    }

    struct Show: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show a session and its transcript."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Session id.") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run(_ gateway: GatewayClient) async throws {
            let session = try await gateway.request(.GET, "/api/sessions/\(Self.escape(id))")
            let messages = try await gateway.request(.GET, "/api/sessions/\(Self.escape(id))/messages")
            if json { return printJSON(["session": session, "messages": messages["messages"] ?? .array([])]) }
            print("session \(session["id"]?.stringValue ?? id) (agent \(session["agent"]?.stringValue ?? "?"))")
            for stored in messages["messages"]?.arrayValue ?? [] {
                let role = stored["message"]?["role"]?.stringValue ?? "?"
                let text = (stored["message"]?["content"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }
                    .joined()
                print("[\(role)] \(text)")
            }
        }

        static func escape(_ id: String) -> String {
            id.addingPercentEncoding(
                withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))
            ) ?? id
        }
    }

    struct Create: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Start a new session; prints its id."
        )
        @OptionGroup var options: HomeOptions
        @Option(help: "Agent name.") var agent: String?
        @Option(help: "Title.") var title: String?

        func run(_ gateway: GatewayClient) async throws {
            var body: [String: JSONValue] = [:]
            if let agent { body["agent"] = .string(agent) }
            if let title { body["title"] = .string(title) }
            print(try await gateway.create("/api/sessions", body))
        }
    }

    struct Delete: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete",
            abstract: "Delete a session and its transcript (its events stay)."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Session id.") var id: String

        func run(_ gateway: GatewayClient) async throws {
            _ = try await gateway.request(.DELETE, "/api/sessions/\(Show.escape(id))")
            print("deleted \(id)")
        }
    }

    struct Send: GatewayClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "send",
            abstract: "Send a message to the session's agent; prints its answer."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "Session id.") var id: String
        @Argument(help: "Message text.") var content: String

        func run(_ gateway: GatewayClient) async throws {
            let result = try await gateway.request(
                .POST,
                "/api/sessions/\(Show.escape(id))/messages",
                body: ["content": .string(content)]
            )
            print(result["response"]?.stringValue ?? "")
        }
    }
}
