import Foundation

extension OspreyConfig {
    /// A persona from config.toml (`[personas.NAME]`); see `Persona` in OspreyTools.
    public struct PersonaSettings: Hashable, Sendable {
        public var description = ""
        public var instructions = ""
        public var model: String?
        public var tools: [String]?
        public var temperature: Double?
        public var readOnly = false

        public init() {}
    }
}

extension ConfigReader {
    func personas(_ table: [String: JSONValue]) throws -> [String: OspreyConfig.PersonaSettings] {
        var personas: [String: OspreyConfig.PersonaSettings] = [:]
        for (name, value) in table {
            let section = "personas.\(name)"
            guard name.range(of: "^[a-z0-9][a-z0-9_-]{0,31}$", options: .regularExpression) != nil else {
                throw ConfigError(
                    "config.toml: [\(section)]: a persona's name is 1-32 lower-case letters, digits, - and _"
                )
            }
            guard let entry = value.objectValue else { throw ConfigError("config.toml: \(section) must be a table") }
            let keys = try self.section(
                entry,
                name: section,
                known: ["description", "instructions", "model", "tools", "temperature", "read_only"]
            )
            var persona = OspreyConfig.PersonaSettings()
            guard let instructions = try keys.string("instructions"), !instructions.isEmpty else {
                throw ConfigError("config.toml: \(section).instructions is required")
            }
            persona.instructions = instructions
            try keys.read("description", into: &persona.description)
            persona.model = try keys.string("model")
            persona.tools = try keys.strings("tools")
            if let value = entry["temperature"] {
                guard let number = value.doubleValue, (0...2).contains(number) else {
                    throw ConfigError("config.toml: \(section).temperature must be a number in 0...2")
                }
                persona.temperature = number
            }
            try keys.read("read_only", into: &persona.readOnly)
            personas[name] = persona
        }
        return personas
    }
}
