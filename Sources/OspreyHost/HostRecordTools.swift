public import Foundation
public import OspreyCore
public import OspreyStore
public import OspreyTools

/// `safe_switch`: begin a change with health gates and automatic rollback, see its status, commit or roll it back.
public struct SafeSwitchTool: Tool {
    public struct Arguments: Decodable {
        var action: String
        var plan: JSONValue?
        var id: String?
    }

    let switches: SafeSwitch
    public init(switches: SafeSwitch) { self.switches = switches }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "safe_switch",
            description: """
                Change the host safely: begin applies a plan (files under [host] switch_paths or Osprey's config, \
                services to restart, Debian packages to install or remove) after a snapshot, then its health checks \
                run through the probation window; \
                a failed check or a window that ends without commit rolls it back. begin, commit and rollback need \
                approval. plan: {"reason", "ttl_seconds", "interval_seconds", "files": [{"path", "content"} or \
                {"path", "delete": true}], "services": [unit], "packages": [{"install": name, "version"?} | \
                {"deb": path} | {"remove": name}], "checks": [{"kind": "http", "url": \
                "http://127.0.0.1:PORT/..."} | {"kind": "command", "argv": [...]} | {"kind": "service", "unit"}]}
                """,
            properties: [
                "action": .argument("string", oneOf: ["begin", "status", "commit", "rollback"]),
                "plan": ["type": "object"], "id": .argument("string", "the switch (status without one lists them)"),
            ],
            required: ["action"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        HostTools.assessment(arguments.action == "status" ? .read : .operate, untrusted: false)
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let actor = Principal.agent(context.agent)
        do {
            switch arguments.action {
            case "begin":
                guard let plan = arguments.plan else { throw ToolArgumentError(description: "begin needs a plan") }
                return try await switches.begin(plan, actor: actor).json.canonicalJSON
            case "status":
                if let id = arguments.id {
                    return try await switches.store.switches.get(SwitchRecord.ID(id)).json.canonicalJSON
                }
                let list = try await switches.store.switches.list(limit: 20)
                return (["switches": .array(list.map(\.json))] as JSONValue).canonicalJSON
            case "commit", "rollback":
                guard let id = arguments.id else {
                    throw ToolArgumentError(description: "\(arguments.action) needs an id")
                }
                return arguments.action == "commit"
                    ? try await switches.commit(SwitchRecord.ID(id), actor: actor).json.canonicalJSON
                    : try await switches.rollback(SwitchRecord.ID(id), reason: "asked", actor: actor).json.canonicalJSON
            default:
                throw ToolArgumentError(description: "action must be begin, status, commit or rollback")
            }
        } catch let invalid as SwitchPlan.Invalid {
            throw ToolArgumentError(description: invalid.description)
        }
    }
}

/// `incident`: a troubleshooting record an agent keeps while it works: create, add steps, resolve, show, list.
public struct IncidentTool: Tool {
    public struct Arguments: Decodable {
        var action: String
        var id: String?
        var title: String?
        var severity: String?
        var kind: String?
        var text: String?
        var events: [Int]?
        var command: String?
        var summary: String?
    }

    let incidents: Incidents
    public init(incidents: Incidents) { self.incidents = incidents }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "incident",
            description: """
                Keep an incident while troubleshooting: create (title, severity low|medium|high|critical), step (id, \
                kind observation|hypothesis|action|result, text, events: ledger seqs, command), resolve (id, summary), \
                show (id), list.
                """,
            properties: [
                "action": .argument("string", oneOf: ["create", "step", "resolve", "show", "list"]),
                "id": .argument("string"), "title": .argument("string"),
                "severity": .argument("string", oneOf: IncidentRecord.severities),
                "kind": .argument("string", oneOf: IncidentRecord.kinds), "text": .argument("string"),
                "events": ["type": "array", "items": ["type": "integer"]], "command": .argument("string"),
                "summary": .argument("string"),
            ],
            required: ["action"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        // A record in the ledger, not a change to the host: it needs the host capability to read, and writes only
        // Osprey's own store.
        var assessment = ToolAssessment(risk: ["show", "list"].contains(arguments.action) ? .read : .write)
        assessment.host = .read
        return assessment
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let actor = Principal.agent(context.agent)
        func required(_ value: String?, _ name: String) throws -> String {
            guard let value, !value.isEmpty else {
                throw ToolArgumentError(description: "\(arguments.action) needs \(name)")
            }
            return value
        }
        do {
            switch arguments.action {
            case "create":
                return try await incidents.create(
                    title: try required(arguments.title, "a title"),
                    severity: arguments.severity ?? "medium",
                    actor: actor
                ).json.canonicalJSON
            case "step":
                return try await incidents.step(
                    IncidentRecord.ID(try required(arguments.id, "an id")),
                    kind: try required(arguments.kind, "a kind"),
                    text: try required(arguments.text, "a text"),
                    events: arguments.events ?? [],
                    command: arguments.command,
                    actor: actor
                ).json.canonicalJSON
            case "resolve":
                return try await incidents.resolve(
                    IncidentRecord.ID(try required(arguments.id, "an id")),
                    summary: try required(arguments.summary, "a summary"),
                    actor: actor
                ).json.canonicalJSON
            case "show":
                return try await incidents.get(IncidentRecord.ID(try required(arguments.id, "an id"))).json
                    .canonicalJSON
            case "list":
                return (["incidents": .array(try await incidents.list(limit: 20).map(\.json))] as JSONValue)
                    .canonicalJSON
            default:
                throw ToolArgumentError(description: "action must be create, step, resolve, show or list")
            }
        } catch let error as StoreError {
            throw ToolArgumentError(description: "\(error)")
        }
    }
}
