public import Foundation
public import OspreyCore

/// `load_skill`: a skill's instructions (and the list of its reference files, or one of them), loaded when the
/// model decides to use it. A workspace skill's text is untrusted content. While a skill with `allowed-tools` is
/// active, the run's tools narrow to those (the agent's loop applies it).
public struct LoadSkill: Tool {
    public struct Arguments: Decodable {
        var name: String
        var file: String?
    }

    public static let name = "load_skill"
    let catalog: SkillCatalog

    public init(catalog: SkillCatalog) { self.catalog = catalog }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: Self.name,
            description: "Load a skill's instructions by name (or one of its reference files with 'file').",
            properties: [
                "name": .argument("string", "The skill's name"),
                "file": .argument("string", "A file the skill lists, such as references/guide.md"),
            ],
            required: ["name"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        let skill = catalog.available.first { $0.name == arguments.name }
        return ToolAssessment(risk: .read, untrustedOutput: !(skill?.trusted ?? true))
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        guard let skill = catalog.skills.first(where: { $0.name == arguments.name }) else {
            throw ToolArgumentError(description: "No skill named '\(arguments.name)'.")
        }
        if let reason = skill.unavailable {
            throw ToolArgumentError(description: "The skill '\(skill.name)' cannot be used here: \(reason).")
        }
        if let file = arguments.file {
            guard skill.files.contains(file) else {
                throw ToolArgumentError(description: "The skill '\(skill.name)' has no file '\(file)'.")
            }
            // Through a jail rooted at the skill's folder: a file the skill lists, and nothing outside it.
            let directory = try Workspace(root: skill.directory)
            let limit = context.outputLimit
            let (data, truncated) = try await Workspace.offload { try directory.read(file, limit: limit) }
            return String(decoding: data, as: UTF8.self) + (truncated ? "\n[truncated]" : "")
        }
        var text = skill.body
        if let tools = skill.allowedTools {
            text += "\n\n[While this skill is active, the tools are: \(tools.joined(separator: ", "))]"
        }
        if !skill.files.isEmpty { text += "\n\n[Files: \(skill.files.joined(separator: ", "))]" }
        return text
    }

    /// The tools a `load_skill` result narrows the run to: the skill's `allowed-tools` (never more than the run
    /// has), or nil when it names none.
    public func narrowing(for arguments: String) -> [String]? {
        guard let value = try? JSONValue.parse(arguments), let name = value["name"]?.stringValue,
            value["file"] == nil, let skill = catalog.available.first(where: { $0.name == name })
        else { return nil }
        return skill.allowedTools
    }
}

/// `create_skill`: an agent proposes a skill (or a new version of one) for the operator's `<home>/skills`. A human
/// approves it before anything is written, whatever the agent's approval mode: a skill is instructions every later
/// run may follow. The previous version is kept in the skill's `.history/`, so versions can be diffed and reverted.
public struct CreateSkill: Tool {
    public struct Arguments: Decodable {
        var name: String
        var description: String
        var instructions: String
        var allowedTools: [String]?

        enum CodingKeys: String, CodingKey {
            case name, description, instructions
            case allowedTools = "allowed_tools"
        }
    }

    public static let name = "create_skill"
    let directory: URL

    /// `directory` is the home's skills folder.
    public init(directory: URL) { self.directory = directory }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: Self.name,
            description: "Propose a skill (a reusable procedure, in Markdown) for later runs; a human approves it "
                + "before it is written. Writing an existing skill's name makes a new version of it.",
            properties: [
                "name": .argument("string", "1-64 of a-z 0-9 - _"),
                "description": .argument("string", "One line: when to use it"),
                "instructions": .argument("string", "The procedure, in Markdown"),
                "allowed_tools": .stringsArgument,
            ],
            required: ["name", "description", "instructions"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        var assessment = ToolAssessment(risk: .write)
        if !Skill.isName(arguments.name) {
            assessment.refusal = "'\(arguments.name)' is not a skill name (1-64 of a-z 0-9 - _)"
            assessment.refusalRule = "arguments"
        }
        assessment.approvalReason =
            "a skill is instructions later runs follow: a human approves it before it is written"
        return assessment
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let description = arguments.description.replacingOccurrences(of: "\n", with: " ")
        var text = "---\nname: \(arguments.name)\ndescription: \(description)\n"
        if let tools = arguments.allowedTools { text += "allowed-tools: [\(tools.joined(separator: ", "))]\n" }
        text += "---\n\n" + arguments.instructions + "\n"
        let folder = directory.appendingPathComponent(arguments.name)
        let file = folder.appendingPathComponent("SKILL.md")
        let manager = FileManager.default
        // Checked as the loader will read it, before anything is replaced.
        let staging = directory.appendingPathComponent(".staging-\(UUID().uuidString)").appendingPathComponent(
            arguments.name
        )
        try manager.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? manager.removeItem(at: staging.deletingLastPathComponent()) }
        try Data(text.utf8).write(to: staging.appendingPathComponent("SKILL.md"))
        do {
            _ = try Skill(directory: staging, trusted: true)
        } catch {
            throw ToolArgumentError(description: "the skill would not load: \(error)")
        }
        try manager.createDirectory(at: folder, withIntermediateDirectories: true)
        var version = 1
        if manager.fileExists(atPath: file.path) {
            let history = folder.appendingPathComponent(".history")
            try manager.createDirectory(at: history, withIntermediateDirectories: true)
            version = ((try? manager.contentsOfDirectory(atPath: history.path))?.count ?? 0) + 2
            try manager.moveItem(at: file, to: history.appendingPathComponent("SKILL.v\(version - 1).md"))
        }
        try DurableFile.replace(file.path, bytes: Array(text.utf8))
        return "Skill '\(arguments.name)' written (version \(version)); later runs can load it."
    }
}
