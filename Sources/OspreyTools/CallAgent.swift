public import Foundation
public import OspreyCore
import OspreySandbox

/// `call_agent`: delegates work to a remote agent of `[[a2a_agents]]` over the Agent2Agent protocol (JSON-RPC
/// `message/send`, then `tasks/get` until the task ends, `tasks/cancel` when the time is up).
///
/// Only the agents the operator listed can be called, at the URL the operator gave: each request goes through the
/// SSRF guard pinned to the checked address (a private or loopback address only if that entry allows it), and the
/// bearer token is resolved from the secret store when the call is made and never shown to the model. What the
/// remote agent answers is another party's words: untrusted output (it taints the run) unless the entry is
/// `trusted`. A conversation continues when the model passes the `context_id` an earlier answer gave.
public struct CallAgent: Tool {
    public struct Arguments: Decodable {
        var agent: String
        var message: String
        var context_id: String?
    }

    let agents: [String: OspreyConfig.A2AAgent]
    let resolve: @Sendable (String) throws -> String?
    /// How often a task that is not finished is asked about.
    let poll: Duration

    public init(
        agents: [OspreyConfig.A2AAgent],
        poll: Duration = .milliseconds(500),
        resolve: @escaping @Sendable (String) throws -> String?
    ) {
        self.agents = Dictionary(agents.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.poll = poll
        self.resolve = resolve
    }

    public var definition: ToolDefinition {
        let listed = agents.values.sorted { $0.name < $1.name }.map { agent in
            "- \(agent.name): \(agent.description.isEmpty ? "(no description)" : String(agent.description.prefix(300)))"
        }
        return ToolDefinition(
            name: "call_agent",
            // The operator wrote these descriptions (config.toml): they are not another party's words.
            description: "Delegate a request to a remote agent (Agent2Agent protocol) and return its answer. Pass "
                + "the context_id of an earlier answer to continue that conversation. The agents:\n"
                + listed.joined(separator: "\n"),
            properties: [
                "agent": .argument("string", oneOf: agents.keys.sorted()), "message": .argument("string"),
                "context_id": .argument("string"),
            ],
            required: ["agent", "message"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        var assessment = ToolAssessment(risk: .network, untrustedOutput: agents[arguments.agent]?.trust != "trusted")
        if agents[arguments.agent] == nil {
            assessment.refusal = "no remote agent named '\(arguments.agent)' in [[a2a_agents]]"
            assessment.refusalRule = "a2a_agents"
        }
        return assessment
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        guard let agent = agents[arguments.agent], let url = URL(string: agent.url) else {
            throw ToolArgumentError(description: "no remote agent named '\(arguments.agent)'")
        }
        var headers = [("Content-Type", "application/json"), ("Accept", "application/json")]
        if let reference = agent.token {
            guard let token = try resolve(reference), !token.isEmpty else {
                throw ToolArgumentError(description: "the token for '\(agent.name)' is not set")
            }
            headers.append(("Authorization", "Bearer \(token)"))
        }
        let host = url.host?.trimmingCharacters(in: CharacterSet(charactersIn: "[]")) ?? ""
        let egress = EgressPolicy(
            allowedHosts: [host],
            allowedPrivateAddresses: agent.privateAddresses + context.egress.allowedPrivateAddresses
        )
        let deadline = ContinuousClock.now + .seconds(agent.timeoutSeconds)
        let remote = Remote(url: url, headers: headers, egress: egress, deadline: deadline)
        var message: [String: JSONValue] = [
            "kind": "message", "role": "user", "messageId": .string(UUID().uuidString.lowercased()),
            // A secret never leaves in a request, however the model came to hold it.
            "parts": [["kind": "text", "text": .string(context.redactor.redactOutgoing(arguments.message))]],
        ]
        if let contextID = arguments.context_id { message["contextId"] = .string(contextID) }
        var result = try await remote.call(
            "message/send",
            ["message": .object(message), "configuration": ["blocking": true, "acceptedOutputModes": ["text/plain"]]]
        )
        while result["kind"] == "task", let id = result["id"]?.stringValue,
            let state = result["status"]?["state"]?.stringValue, !A2AWire.terminalStates.contains(state)
        {
            if state == "input-required" || state == "auth-required" { break }
            guard ContinuousClock.now + poll < deadline else {
                // The time is up: the remote task is cancelled, and the model hears whether that worked.
                var cancelled = "was cancelled"
                let stop = Remote(
                    url: remote.url,
                    headers: remote.headers,
                    egress: remote.egress,
                    deadline: ContinuousClock.now + .seconds(10)
                )
                do {
                    _ = try await stop.call("tasks/cancel", ["id": .string(id)])
                } catch {
                    cancelled = "could not be cancelled (\(error))"
                }
                throw ToolArgumentError(
                    description:
                        "'\(agent.name)' did not finish within \(agent.timeoutSeconds) s; its task \(id) \(cancelled)"
                )
            }
            try await Task.sleep(for: poll)
            result = try await remote.call("tasks/get", ["id": .string(id)])
        }
        let state = result["kind"] == "task" ? result["status"]?["state"]?.stringValue ?? "unknown" : "completed"
        var header = "[remote agent \(agent.name), state \(state)"
        if let id = result["id"]?.stringValue, result["kind"] == "task" { header += ", task \(id)" }
        if let contextID = result["contextId"]?.stringValue { header += ", context_id \(contextID)" }
        let answer = String(A2AWire.answer(of: result).prefix(context.outputLimit))
        return header + "]\n" + answer
    }

    /// One remote agent's JSON-RPC endpoint.
    struct Remote {
        let url: URL
        let headers: [(String, String)]
        let egress: EgressPolicy
        let deadline: ContinuousClock.Instant

        func call(_ method: String, _ params: JSONValue) async throws -> JSONValue {
            let request: JSONValue = [
                "jsonrpc": "2.0", "id": .string(UUID().uuidString.lowercased()), "method": .string(method),
                "params": params,
            ]
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw ToolArgumentError(description: "the remote agent's time is up") }
            let page = try await HTTPFetch.fetch(
                url,
                method: "POST",
                body: request.canonicalJSON,
                headers: headers,
                egress: egress,
                timeout: left
            )
            guard (200..<300).contains(page.status) else {
                throw ToolArgumentError(
                    description: "the remote agent answered HTTP \(page.status): \(String(page.body.prefix(300)))"
                )
            }
            let answer: JSONValue
            do {
                answer = try JSONValue.parse(page.body)
            } catch {
                throw ToolArgumentError(description: "the remote agent's answer is not JSON: \(error)")
            }
            if let error = answer["error"] {
                let code = error["code"]?.intValue.map(String.init) ?? "?"
                let message = error["message"]?.stringValue ?? "no message"
                throw ToolArgumentError(description: "the remote agent refused \(method) (\(code)): \(message)")
            }
            guard let result = answer["result"], result["kind"] == "task" || result["kind"] == "message" else {
                throw ToolArgumentError(description: "the remote agent's answer has no task or message")
            }
            return result
        }
    }
}
