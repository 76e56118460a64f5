/// One table of config.toml (`[gateway]`, `[agents.NAME]`, …), read key by key: every error names the table and the
/// key, and a key that is not there leaves what it would set as it was.
struct ConfigSection {
    let table: [String: JSONValue]
    let name: String
    let reader: ConfigReader

    func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
        try reader.int(table, key, section: name, range: range)
    }

    func string(_ key: String) throws -> String? { try reader.string(table, key, section: name) }

    /// A non-negative number.
    func number(_ key: String) throws -> Double? { try reader.number(table, key, section: name) }

    func bool(_ key: String) throws -> Bool? { try reader.bool(table, key, section: name) }

    func strings(_ key: String) throws -> [String]? { try reader.strings(table, key, section: name) }

    func read(_ key: String, _ range: ClosedRange<Int>, into target: inout Int) throws {
        if let value = try int(key, range) { target = value }
    }

    func read(_ key: String, into target: inout String) throws {
        if let value = try string(key) { target = value }
    }

    func read(_ key: String, into target: inout Double) throws {
        if let value = try number(key) { target = value }
    }

    func read(_ key: String, into target: inout Bool) throws {
        if let value = try bool(key) { target = value }
    }

    func read(_ key: String, into target: inout [String]) throws {
        if let value = try strings(key) { target = value }
    }

    /// A string that must be one of `options`.
    func choice(_ key: String, _ options: [String], into target: inout String) throws {
        guard let value = try string(key) else { return }
        guard options.contains(value) else {
            let quoted = options.map { "\"\($0)\"" }
            var listed = quoted.joined(separator: ", ")
            if quoted.count > 1 {
                listed = quoted.dropLast().joined(separator: ", ") + " or " + quoted[quoted.count - 1]
            }
            throw ConfigError("config.toml: \(name).\(key) must be \(listed)")
        }
        target = value
    }
}
