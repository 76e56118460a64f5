import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyGateway

/// Sends one message to an agent and streams its answer; shared by `ask` and `chat`.
struct Conversation {
    let client: GatewayClient
    var session: String?
    let agent: String?
    /// The persona a new session's runs act in.
    var persona: String? = nil

    /// The result of one message: the `done` object, or the error the gateway reported.
    enum Outcome {
        case done(JSONValue)
        case failed(code: String, message: String)
    }

    mutating func send(_ prompt: String, echo: Bool) async throws -> Outcome {
        if session == nil {
            var body: [String: JSONValue] = ["title": .string(String(prompt.prefix(60)))]
            if let agent { body["agent"] = .string(agent) }
            if let persona { body["persona"] = .string(persona) }
            session = try await client.request(.POST, "/api/sessions", body: .object(body))["id"]?.stringValue
        }
        guard let session else { throw CLIError("the gateway did not return a session id") }
        var parser = ServerSentEventParser()
        var outcome: Outcome?
        var wroteText = false
        try await client.stream(
            "/api/sessions/\(session)/messages",
            body: ["content": .string(prompt)],
            headers: [("Accept", "text/event-stream")]
        ) { chunk in
            for event in parser.feed(chunk.readableBytesView) {
                let data = (try? JSONValue.parse(event.data)) ?? .null
                switch event.event {
                case "text_delta":
                    if echo, let text = data["text"]?.stringValue {
                        FileHandle.standardOutput.write(Data(text.utf8))
                        wroteText = true
                    }
                case "tool_call":
                    if echo {
                        let line =
                            "[tool] \(data["name"]?.stringValue ?? "?") \(data["arguments"]?.stringValue ?? "")\n"
                        FileHandle.standardError.write(Data(line.utf8))
                    }
                case "tool_result":
                    if echo, data["is_error"] == true {
                        FileHandle.standardError.write(
                            Data("[tool error] \(data["output"]?.stringValue?.prefix(200) ?? "")\n".utf8)
                        )
                    }
                case "approval_requested":
                    // Shown even with --json: the run waits for a human.
                    let id = data["id"]?.stringValue ?? "?"
                    FileHandle.standardError.write(
                        Data(
                            "[approval needed] \(data["tool"]?.stringValue ?? "?"): \(data["reason"]?.stringValue ?? "")\n  osprey approvals approve \(id)   (or: osprey approvals reject \(id))\n"
                                .utf8
                        )
                    )
                case "done":
                    outcome = .done(data)
                case "error":
                    outcome = .failed(
                        code: data["error"]?["code"]?.stringValue ?? "error",
                        message: data["error"]?["message"]?.stringValue ?? "failed"
                    )
                default:
                    break
                }
            }
        }
        if echo && wroteText { FileHandle.standardOutput.write(Data("\n".utf8)) }
        return outcome ?? .failed(code: "stream_cut", message: "the gateway ended the stream without a result")
    }
}

struct AskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Ask an agent; streams the answer. Exit 0 ok, 1 failed, 2 usage or configuration error."
    )
    @OptionGroup var options: HomeOptions
    @Flag(help: "Print one JSON object: response, session_id, tokens, cost_usd, duration_ms, exit_code.") var json =
        false
    @Option(help: "Continue this session.") var session: String?
    @Option(help: "Agent to use for a new session.") var agent: String?
    @Option(help: "Persona a new session acts in (dev, review, research, ops, or one of yours).") var persona: String?
    @Argument(help: "The prompt.") var prompt: [String] = []

    func run() async throws {
        let text = prompt.joined(separator: " ")
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            FileHandle.standardError.write(Data("osprey: ask needs a prompt\n".utf8))
            throw ExitCode(2)
        }
        let started = ContinuousClock.now
        do {
            var conversation = Conversation(
                client: try GatewayClient(home: options.resolved),
                session: session,
                agent: agent,
                persona: persona
            )
            switch try await conversation.send(text, echo: !json) {
            case .done(let result):
                if json { print(result.canonicalJSON) }
            case .failed(let code, let message):
                if json {
                    let elapsed = ContinuousClock.now - started
                    let failure: JSONValue = [
                        "response": .null, "session_id": conversation.session.map(JSONValue.string) ?? .null,
                        "tokens": 0,
                        "cost_usd": 0.0, "duration_ms": .int(Int(elapsed.components.seconds * 1000)), "exit_code": 1,
                        "error": ["code": .string(code), "message": .string(message)],
                    ]
                    print(failure.canonicalJSON)
                } else {
                    FileHandle.standardError.write(Data("osprey: \(message)\n".utf8))
                }
                throw ExitCode(code == "configuration_error" ? 2 : 1)
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            if json {
                let failure: JSONValue = [
                    "response": .null, "session_id": session.map(JSONValue.string) ?? .null, "tokens": 0,
                    "cost_usd": 0.0,
                    "duration_ms": 0, "exit_code": 1,
                    "error": ["code": "request_failed", "message": .string("\(error)")],
                ]
                print(failure.canonicalJSON)
            } else {
                FileHandle.standardError.write(Data("osprey: \(error)\n".utf8))
            }
            throw ExitCode(1)
        }
    }
}

struct ChatCommand: GatewayClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk to an agent interactively (streaming). Empty line or /exit quits."
    )
    @OptionGroup var options: HomeOptions
    @Option(help: "Continue this session.") var session: String?
    @Option(help: "Agent to use for a new session.") var agent: String?
    @Option(help: "Persona a new session acts in.") var persona: String?

    func run(_ gateway: GatewayClient) async throws {
        var conversation = Conversation(client: gateway, session: session, agent: agent, persona: persona)
        while true {
            FileHandle.standardOutput.write(Data("> ".utf8))
            guard let line = readLine(), !line.isEmpty, line != "/exit" else { break }
            switch try await conversation.send(line, echo: true) {
            case .done(let result):
                let tokens = result["tokens"]?.intValue ?? 0
                FileHandle.standardError.write(
                    Data("[\(tokens) tokens, \(result["duration_ms"]?.intValue ?? 0) ms]\n".utf8)
                )
            case .failed(_, let message):
                FileHandle.standardError.write(Data("osprey: \(message)\n".utf8))
            }
        }
        if let session = conversation.session { FileHandle.standardError.write(Data("session \(session)\n".utf8)) }
    }
}

struct ModelsCommand: GatewayClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List providers, models, breaker states and agents."
    )
    @OptionGroup var options: HomeOptions
    @Flag(help: "Print JSON.") var json = false

    func run(_ gateway: GatewayClient) async throws {
        let result = try await gateway.request(.GET, "/api/models")
        if json { return printJSON(result) }
        for provider in result["providers"]?.arrayValue ?? [] {
            let models = (provider["models"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", ")
            print(
                "\(provider["name"]?.stringValue ?? "?")  \(provider["kind"]?.stringValue ?? "?")  breaker \(provider["breaker"]?.stringValue ?? "?")  models: \(models)"
            )
        }
        if result["local_model"]?["enabled"] == true {
            print(
                "local model: \(result["local_model"]?["running"] == true ? "running" : "not started") at \(result["local_model"]?["base_url"]?.stringValue ?? "")"
            )
        }
        for (name, agent) in (result["agents"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            let routes = (agent["routes"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: " -> ")
            print("agent \(name): \(routes)")
        }
    }
}
