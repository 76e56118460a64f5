public import Foundation
public import OspreyCore

/// A workflow skill's steps (`workflow.toml` beside its `SKILL.md`): a DAG of agent prompts, tool calls and commands,
/// each with acceptance checks, checked when the skill loads.
///
/// ```toml
/// inputs = ["topic"]                       # required when the workflow runs; {{topic}} in any text
///
/// [[steps]]
/// name = "draft"
/// prompt = "Write notes about {{topic}} to notes.md."   # an agent task (agent = "...": another agent;
///                                                       # persona = "a careful editor": the role it acts in)
/// acceptance = [{ file_exists = "notes.md" }]
///
/// [[steps]]
/// name = "count"
/// needs = ["draft"]
/// command = "wc -w notes.md"                # run_command, through the policy and the sandbox
/// acceptance = [{ regex = "^[0-9]+ notes.md" }, { judge = "The count is above zero." }]
///
/// [[steps]]
/// name = "save"
/// needs = ["count"]
/// tool = "write_file"                       # any of the agent's tools
/// arguments = { path = "count.txt", content = "{{steps.count}}" }
///
/// acceptance = [{ command = "test -s count.txt" }]   # the workflow's own checks, after every step
/// ```
///
/// `{{steps.NAME}}` is a step's output, for steps it needs (directly or not); in a command every value is inserted
/// as one single-quoted shell word. Checks: `command` (exit 0), `file_exists` (a workspace path), `regex` (on the
/// step's output; for the workflow, on every step's output under a `## step` heading), and `judge` (a model decides, quoting its evidence from
/// the output); the mechanical ones run first.
public struct Workflow: Hashable, Sendable {
    /// One acceptance check.
    public enum Check: Hashable, Sendable, CustomStringConvertible {
        case command(String)
        case fileExists(String)
        case regex(String)
        case judge(String)

        /// Whether a program decides it (not a model).
        public var isMechanical: Bool {
            if case .judge = self { return false }
            return true
        }

        public var description: String {
            switch self {
            case .command(let line): "command `\(line)`"
            case .fileExists(let path): "file_exists \(path)"
            case .regex(let pattern): "regex /\(pattern)/"
            case .judge(let criterion): "judge: \(criterion)"
            }
        }
    }

    /// What a step does.
    public enum Action: Hashable, Sendable {
        /// An agent task with this prompt (by `agent`, else the workflow's), acting as `persona` when one is given.
        case prompt(String, agent: String?, persona: String?)
        /// One tool call with these arguments (strings in them are templates).
        case tool(String, arguments: JSONValue)
        /// A command line, through `run_command`.
        case command(String)
    }

    public struct Step: Hashable, Sendable {
        public var name: String
        public var needs: [String]
        public var action: Action
        public var acceptance: [Check]

        public init(name: String, needs: [String] = [], action: Action, acceptance: [Check] = []) {
            self.name = name
            self.needs = needs
            self.action = action
            self.acceptance = acceptance
        }
    }

    public var name: String
    public var inputs: [String]
    public var steps: [Step]
    public var acceptance: [Check]

    public static let fileName = "workflow.toml"

    /// The steps nothing else needs: their outputs are the workflow's result.
    public var finalSteps: [Step] {
        let needed = Set(steps.flatMap(\.needs))
        return steps.filter { !needed.contains($0.name) }
    }

    public func step(_ name: String) -> Step? { steps.first { $0.name == name } }

    /// A workflow built in code (a spec run's plan), checked as a loaded one is.
    public init(name: String, steps: [Step], acceptance: [Check] = []) throws {
        self.name = name
        inputs = []
        self.steps = steps
        self.acceptance = acceptance
        try validate()
    }

    /// Reads `workflow.toml` text; a cycle, an unknown step, a reference to an input or step that is not there is
    /// an error naming the step and the field.
    public init(name: String, toml text: String) throws {
        self.name = name
        let root: JSONValue
        do {
            root = try TOML.parse(text)
        } catch {
            throw SkillError("\(Self.fileName): \(error)")
        }
        let known: Set<String> = ["inputs", "steps", "acceptance", "description"]
        if let unknown = root.objectValue?.keys.sorted().first(where: { !known.contains($0) }) {
            throw SkillError("\(Self.fileName): unknown key '\(unknown)'")
        }
        inputs = try Self.strings(root["inputs"], at: "inputs")
        acceptance = try Self.checks(root["acceptance"], at: "acceptance")
        guard let entries = root["steps"]?.arrayValue, !entries.isEmpty else {
            throw SkillError("\(Self.fileName): steps is required: at least one [[steps]] table")
        }
        steps = try entries.enumerated().map { index, entry in try Self.step(entry, at: "steps[\(index)]") }
        try validate()
    }

    static func step(_ entry: JSONValue, at path: String) throws -> Step {
        guard let table = entry.objectValue else { throw SkillError("\(fileName): \(path) must be a table") }
        let known: Set<String> = [
            "name", "needs", "prompt", "agent", "persona", "tool", "arguments", "command", "acceptance",
        ]
        if let unknown = table.keys.sorted().first(where: { !known.contains($0) }) {
            throw SkillError("\(fileName): \(path) has an unknown key '\(unknown)'")
        }
        guard let name = table["name"]?.stringValue,
            name.range(of: "^[a-z0-9_-]{1,48}$", options: .regularExpression) != nil
        else { throw SkillError("\(fileName): \(path).name is required: 1-48 of a-z 0-9 _ -") }
        let at = "step '\(name)'"
        let actions = ["prompt", "tool", "command"].filter { table[$0] != nil }
        guard actions.count == 1 else {
            throw SkillError("\(fileName): \(at) needs exactly one of prompt, tool or command")
        }
        let action: Action
        switch actions[0] {
        case "prompt":
            guard let prompt = table["prompt"]?.stringValue, !prompt.isEmpty else {
                throw SkillError("\(fileName): \(at).prompt must be text")
            }
            action = .prompt(prompt, agent: table["agent"]?.stringValue, persona: table["persona"]?.stringValue)
        case "tool":
            guard let tool = table["tool"]?.stringValue, !tool.isEmpty else {
                throw SkillError("\(fileName): \(at).tool must be a tool name")
            }
            let arguments = table["arguments"] ?? [:]
            guard arguments.objectValue != nil else {
                throw SkillError("\(fileName): \(at).arguments must be a table")
            }
            action = .tool(tool, arguments: arguments)
        default:
            guard let command = table["command"]?.stringValue, !command.isEmpty else {
                throw SkillError("\(fileName): \(at).command must be text")
            }
            action = .command(command)
        }
        for key in ["agent", "persona"] where table[key] != nil && actions[0] != "prompt" {
            throw SkillError("\(fileName): \(at).\(key) is for prompt steps")
        }
        if table["arguments"] != nil, actions[0] != "tool" {
            throw SkillError("\(fileName): \(at).arguments is for tool steps")
        }
        return Step(
            name: name,
            needs: try strings(table["needs"], at: "\(at).needs"),
            action: action,
            acceptance: try checks(table["acceptance"], at: "\(at).acceptance")
        )
    }

    static func strings(_ value: JSONValue?, at path: String) throws -> [String] {
        guard let value else { return [] }
        guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
            throw SkillError("\(fileName): \(path) must be a list of names")
        }
        return items.compactMap(\.stringValue)
    }

    static func checks(_ value: JSONValue?, at path: String) throws -> [Check] {
        guard let value else { return [] }
        guard let items = value.arrayValue else { throw SkillError("\(fileName): \(path) must be a list of checks") }
        return try items.enumerated().map { index, item in
            guard let table = item.objectValue, table.count == 1, let (kind, argument) = table.first,
                let text = argument.stringValue, !text.isEmpty
            else {
                throw SkillError(
                    "\(fileName): \(path)[\(index)] must be one of { command = \"…\" }, { file_exists = \"…\" }, "
                        + "{ regex = \"…\" }, { judge = \"…\" }"
                )
            }
            switch kind {
            case "command": return .command(text)
            case "file_exists": return .fileExists(text)
            case "judge": return .judge(text)
            case "regex":
                guard (try? NSRegularExpression(pattern: text)) != nil else {
                    throw SkillError("\(fileName): \(path)[\(index)].regex is not a valid pattern: \(text)")
                }
                return .regex(text)
            default:
                throw SkillError("\(fileName): \(path)[\(index)]: '\(kind)' is not a check")
            }
        }
    }

    /// Names unique, needs known, no cycle, every `{{…}}` an input or a step the step needs.
    func validate() throws {
        var seen: Set<String> = []
        for step in steps where !seen.insert(step.name).inserted {
            throw SkillError("\(Self.fileName): two steps are named '\(step.name)'")
        }
        for step in steps {
            for need in step.needs where !seen.contains(need) {
                throw SkillError("\(Self.fileName): step '\(step.name)' needs '\(need)', which is not a step")
            }
        }
        _ = try order()
        let ancestors = Dictionary(uniqueKeysWithValues: steps.map { ($0.name, self.ancestors(of: $0.name)) })
        for step in steps {
            for reference in Self.references(in: step.action) {
                try check(reference, in: "step '\(step.name)'", available: ancestors[step.name] ?? [])
            }
            for case .command(let line) in step.acceptance {
                for reference in Self.references(in: line) {
                    try check(reference, in: "step '\(step.name)'", available: ancestors[step.name] ?? [])
                }
            }
        }
        for case .command(let line) in acceptance {
            for reference in Self.references(in: line) {
                try check(reference, in: "the workflow's acceptance", available: Set(steps.map(\.name)))
            }
        }
    }

    private func check(_ reference: String, in place: String, available: Set<String>) throws {
        if reference.hasPrefix("steps.") {
            let step = String(reference.dropFirst("steps.".count))
            guard available.contains(step) else {
                throw SkillError(
                    "\(Self.fileName): \(place) uses {{\(reference)}} but does not need step '\(step)'"
                )
            }
        } else if !inputs.contains(reference) {
            throw SkillError(
                "\(Self.fileName): \(place) uses {{\(reference)}}, which is not an input (inputs: "
                    + "\(inputs.joined(separator: ", ")))"
            )
        }
    }

    /// Every step `name` needs, directly or not.
    public func ancestors(of name: String) -> Set<String> {
        var found: Set<String> = []
        var pending = step(name)?.needs ?? []
        while let next = pending.popLast() {
            guard found.insert(next).inserted else { continue }
            pending += step(next)?.needs ?? []
        }
        return found
    }

    /// The steps in an order where each comes after what it needs; a cycle is an error naming a step on it.
    public func order() throws -> [Step] {
        var ordered: [Step] = []
        var done: Set<String> = []
        var remaining = steps
        while !remaining.isEmpty {
            let ready = remaining.filter { $0.needs.allSatisfy(done.contains) }
            guard !ready.isEmpty else {
                throw SkillError(
                    "\(Self.fileName): the steps \(remaining.map(\.name).sorted().joined(separator: ", ")) need each "
                        + "other in a cycle"
                )
            }
            ordered += ready
            done.formUnion(ready.map(\.name))
            remaining.removeAll { done.contains($0.name) }
        }
        return ordered
    }

    static func references(in action: Action) -> [String] {
        switch action {
        case .prompt(let text, _, _), .command(let text): references(in: text)
        case .tool(_, let arguments): references(in: arguments.canonicalJSON)
        }
    }

    /// A `{{name}}` placeholder; its name is the capture. (A `Regex` is not `Sendable`, so it is made per use.)
    static var placeholder: Regex<(Substring, Substring)> { /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/ }

    /// The names inside `{{…}}` in `text`.
    static func references(in text: String) -> [String] {
        text.matches(of: placeholder).map { String($0.output.1) }
    }

    /// `text` with each `{{name}}` replaced by its value (`steps.NAME` from `outputs`); `quote` wraps each value
    /// (a command's single-quoted shell word).
    public static func render(
        _ text: String,
        inputs: [String: String],
        outputs: [String: String],
        quote: ((String) -> String)? = nil
    ) -> String {
        text.replacing(placeholder) { match in
            let name = String(match.output.1)
            let value =
                name.hasPrefix("steps.") ? outputs[String(name.dropFirst("steps.".count))] ?? "" : inputs[name] ?? ""
            return quote?(value) ?? value
        }
    }

    /// A value as one single-quoted shell word.
    public static func shellQuoted(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// The action with its templates filled in.
    public static func render(_ action: Action, inputs: [String: String], outputs: [String: String]) -> Action {
        switch action {
        case .prompt(let text, let agent, let persona):
            return .prompt(render(text, inputs: inputs, outputs: outputs), agent: agent, persona: persona)
        case .command(let line):
            return .command(render(line, inputs: inputs, outputs: outputs, quote: shellQuoted))
        case .tool(let name, let arguments):
            func fill(_ value: JSONValue) -> JSONValue {
                switch value {
                case .string(let text): .string(render(text, inputs: inputs, outputs: outputs))
                case .array(let items): .array(items.map(fill))
                case .object(let members): .object(members.mapValues(fill))
                default: value
                }
            }
            return .tool(name, arguments: fill(arguments))
        }
    }
}
