public import Foundation
public import OspreyCore

/// A role an agent's run acts in: instructions added to the agent's, and a narrowing of what it may do (its tools, a
/// model, a temperature; a read-only persona may neither write nor execute, which the policy enforces).
///
/// Built in: `dev`, `review`, `research`, `ops`. Custom ones come from config.toml (`[personas.NAME]`) or from a
/// Markdown file in the home (`personas/NAME.md`: front matter, then the instructions). A persona never widens an
/// agent: its tools are intersected with the agent's, and `read_only` only takes away.
public struct Persona: Hashable, Sendable {
    public var name: String
    public var description: String
    public var instructions: String
    /// `provider/model` for runs in this persona; nil keeps the agent's.
    public var model: String?
    /// The tools it keeps of the agent's (nil: all of them).
    public var tools: [String]?
    public var temperature: Double?
    /// May not write files or run commands: the policy denies such calls (rule `persona`).
    public var readOnly: Bool
    /// `built-in`, `config` or `file`.
    public var source: String

    public init(
        name: String,
        description: String,
        instructions: String,
        model: String? = nil,
        tools: [String]? = nil,
        temperature: Double? = nil,
        readOnly: Bool = false,
        source: String = "file"
    ) {
        self.name = name
        self.description = description
        self.instructions = instructions
        self.model = model
        self.tools = tools
        self.temperature = temperature
        self.readOnly = readOnly
        self.source = source
    }

    public static let builtIn: [Persona] = [
        Persona(
            name: "dev",
            description: "Writes and changes code and files, runs the project's commands, checks its own work.",
            instructions: "You act as a software developer. Make the smallest change that does the job, run the "
                + "tests or commands that prove it works, and say what you changed.",
            source: "built-in"
        ),
        Persona(
            name: "review",
            description: "Reads and judges work; never writes or runs anything.",
            instructions: "You act as a reviewer. Read what was done, judge it against what was asked, and cite "
                + "the lines or files your judgement rests on. You do not change anything.",
            readOnly: true,
            source: "built-in"
        ),
        Persona(
            name: "research",
            description: "Finds and reads sources (files, the web the agent may reach); never writes or runs.",
            instructions: "You act as a researcher. Find the sources that answer the question, read them, and "
                + "answer with what each says and where it came from. You do not change anything.",
            readOnly: true,
            source: "built-in"
        ),
        Persona(
            name: "ops",
            description: "Runs and inspects the system: commands, services, logs, configuration.",
            instructions: "You act as an operator of this machine. Inspect before you change, change one thing at a "
                + "time, and check the system's health after each change.",
            source: "built-in"
        ),
    ]

    /// Lower-case letters, digits, `-` and `_`, 1-32 characters.
    public static func isName(_ name: String) -> Bool {
        name.range(of: "^[a-z0-9][a-z0-9_-]{0,31}$", options: .regularExpression) != nil
    }

    /// The persona a Markdown file describes: front matter (`description`, and optionally `model`, `tools`,
    /// `temperature`, `read_only`), then the instructions.
    public init(markdown text: String, name: String) throws {
        guard Self.isName(name) else {
            throw SkillError("persona name '\(name)': 1-32 lower-case letters, digits, - and _")
        }
        let (front, body) = try Skill.split(text, file: "personas/\(name).md")
        let known: Set<String> = ["description", "model", "tools", "temperature", "read_only"]
        if let unknown = front.objectValue?.keys.sorted().first(where: { !known.contains($0) }) {
            throw SkillError("personas/\(name).md: unknown front matter key '\(unknown)'")
        }
        guard let description = front["description"]?.stringValue, !description.isEmpty else {
            throw SkillError("personas/\(name).md: a description is required")
        }
        let instructions = body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !instructions.isEmpty else {
            throw SkillError("personas/\(name).md: the instructions (after the front matter) are empty")
        }
        var tools: [String]?
        if let value = front["tools"] {
            guard let items = value.arrayValue?.compactMap(\.stringValue), items.count == value.arrayValue?.count else {
                throw SkillError("personas/\(name).md: tools must be a list of tool names")
            }
            tools = items
        }
        var temperature: Double?
        if let value = front["temperature"] {
            guard let number = value.doubleValue ?? value.stringValue.flatMap(Double.init), (0...2).contains(number)
            else { throw SkillError("personas/\(name).md: temperature must be a number in 0...2") }
            temperature = number
        }
        var readOnly = false
        if let value = front["read_only"] {
            guard let flag = value.boolValue ?? ["true": true, "false": false][value.stringValue ?? ""] else {
                throw SkillError("personas/\(name).md: read_only must be true or false")
            }
            readOnly = flag
        }
        self.init(
            name: name,
            description: description,
            instructions: instructions,
            model: front["model"]?.stringValue,
            tools: tools,
            temperature: temperature,
            readOnly: readOnly,
            source: "file"
        )
    }

    /// This persona as the Markdown file that describes it.
    public var markdown: String {
        var lines = ["---", "description: \(description)"]
        if let model { lines.append("model: \(model)") }
        if let tools { lines.append("tools: [\(tools.joined(separator: ", "))]") }
        if let temperature { lines.append("temperature: \(temperature)") }
        if readOnly { lines.append("read_only: true") }
        return (lines + ["---", "", instructions, ""]).joined(separator: "\n")
    }

    /// The API form.
    public var json: JSONValue {
        [
            "name": .string(name), "description": .string(description), "instructions": .string(instructions),
            "model": model.map(JSONValue.string) ?? .null,
            "tools": tools.map { .array($0.map(JSONValue.string)) } ?? .null,
            "temperature": temperature.map(JSONValue.double) ?? .null, "read_only": .bool(readOnly),
            "source": .string(source),
        ]
    }

    /// An agent's settings as a run in this persona has them: its instructions after the agent's, its tools kept
    /// only where the agent has them too, its model and temperature, and no writing or executing when read-only.
    public func applied(to settings: OspreyConfig.Agent) -> OspreyConfig.Agent {
        var settings = settings
        let role = "You act in the persona '\(name)': \(instructions)"
        settings.instructions = settings.instructions.map { "\($0)\n\n\(role)" } ?? role
        if let tools { settings.tools = (settings.tools ?? []).filter { tools.contains($0) } }
        if let model { settings.model = model }
        if let temperature { settings.temperature = temperature }
        if readOnly { settings.readOnly = true }
        return settings
    }
}

/// The personas a gateway knows: the built-in ones, config.toml's (which may replace a built-in of the same name),
/// and the home's `personas/*.md` (which may not: a file cannot loosen `review`). Files are read on each call, so
/// one written through the API is there for the next run.
public struct PersonaCatalog: Sendable {
    public let directory: URL
    let configured: [Persona]

    public init(directory: URL, configured: [Persona]) {
        self.directory = directory
        self.configured = configured
    }

    /// Every persona, by name, and the files that could not be read with why.
    public func all() -> (personas: [Persona], failures: [String: String]) {
        var byName: [String: Persona] = [:]
        for persona in Persona.builtIn + configured { byName[persona.name] = persona }
        var failures: [String: String] = [:]
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for file in files.sorted() where file.hasSuffix(".md") {
            let name = String(file.dropLast(3))
            guard byName[name] == nil else {
                failures[file] = "a built-in or configured persona has this name"
                continue
            }
            do {
                let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                byName[name] = try Persona(markdown: text, name: name)
            } catch {
                failures[file] = "\(error)"
            }
        }
        return (byName.values.sorted { $0.name < $1.name }, failures)
    }

    public func persona(named name: String) -> Persona? { all().personas.first { $0.name == name } }

    /// Writes (or replaces) a file persona; a built-in or configured one cannot be replaced this way.
    public func write(_ persona: Persona) throws {
        guard Persona.isName(persona.name) else { throw SkillError("persona name '\(persona.name)' is not valid") }
        if let fixed = (configured + Persona.builtIn).first(where: { $0.name == persona.name }) {
            throw SkillError("'\(persona.name)' is a \(fixed.source) persona: it cannot be replaced by a file")
        }
        // Read back before it is kept: what is written must be what a later run reads.
        _ = try Persona(markdown: persona.markdown, name: persona.name)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(persona.markdown.utf8).write(
            to: directory.appendingPathComponent("\(persona.name).md"),
            options: .atomic
        )
    }

    /// Removes a file persona; false when there is none by that name.
    public func remove(_ name: String) throws -> Bool {
        guard Persona.isName(name) else { return false }
        let file = directory.appendingPathComponent("\(name).md")
        guard FileManager.default.fileExists(atPath: file.path) else { return false }
        try FileManager.default.removeItem(at: file)
        return true
    }
}
