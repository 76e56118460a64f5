import Foundation

/// A seed: the frozen specification a spec-first run executes and is evaluated against. Immutable once stored; a
/// change is a new generation of the same lineage.
///
/// `{"goal", "constraints": [..], "acceptance": [{"id", "criterion", "check": {...}, "critical"?}], "ontology":
/// [{"name", "description"}], "non_goals": [..]}`. A check says how the criterion is checked: `{"command": "…"}`
/// (exit code 0), `{"file_exists": "path"}`, `{"regex": "…", "file": "path"}` (mechanical, no model), or
/// `{"judge": "what the judge looks for"}` (semantic: a model that must cite its evidence).
public struct SeedDocument: Hashable, Sendable {
    public struct Criterion: Hashable, Sendable {
        public var id: String
        public var criterion: String
        public var check: JSONValue
        /// A critical criterion needs the judges' consensus.
        public var critical: Bool

        /// `command`, `file_exists`, `regex` or `judge`.
        public var kind: String {
            ["command", "file_exists", "regex", "judge"].first { check[$0] != nil } ?? "unknown"
        }
        /// Checked without a model.
        public var mechanical: Bool { kind != "judge" }
    }

    public var goal: String
    public var constraints: [String]
    public var acceptance: [Criterion]
    public var ontology: [(name: String, description: String)]
    public var nonGoals: [String]

    public static func == (a: SeedDocument, b: SeedDocument) -> Bool { a.json == b.json }
    public func hash(into hasher: inout Hasher) { hasher.combine(json.canonicalJSON) }

    /// Reads and checks a document; every error names its field.
    public init(_ value: JSONValue) throws {
        guard let object = value.objectValue else { throw SeedError("a seed is a JSON object") }
        let known: Set<String> = ["goal", "constraints", "acceptance", "ontology", "non_goals"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw SeedError("unknown field '\(unknown)'")
        }
        guard let goal = object["goal"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !goal.isEmpty,
            goal.utf8.count <= 8192
        else { throw SeedError("goal: a non-empty string of at most 8 KiB is required") }
        self.goal = goal
        func strings(_ key: String) throws -> [String] {
            guard let value = object[key], value != .null else { return [] }
            guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
                throw SeedError("\(key): an array of non-empty strings")
            }
            return items.compactMap(\.stringValue)
        }
        constraints = try strings("constraints")
        nonGoals = try strings("non_goals")
        guard let criteria = object["acceptance"]?.arrayValue, !criteria.isEmpty else {
            throw SeedError("acceptance: at least one criterion, each with how it will be checked")
        }
        var ids: Set<String> = []
        acceptance = try criteria.enumerated().map { position, item in
            let field = "acceptance[\(position)]"
            guard let id = item["id"]?.stringValue,
                id.range(of: "^[a-z0-9][a-z0-9_-]{0,63}$", options: .regularExpression) != nil
            else { throw SeedError("\(field).id: 1-64 lower-case letters, digits, - and _") }
            guard ids.insert(id).inserted else { throw SeedError("\(field).id: '\(id)' is used twice") }
            guard let text = item["criterion"]?.stringValue, !text.isEmpty else {
                throw SeedError("\(field).criterion: what must hold, in words")
            }
            guard let check = item["check"], let members = check.objectValue, members.count >= 1 else {
                throw SeedError("\(field).check: how it is checked (command, file_exists, regex with file, or judge)")
            }
            let kinds = ["command", "file_exists", "regex", "judge"].filter { members[$0] != nil }
            guard kinds.count == 1, members[kinds[0]]?.stringValue?.isEmpty == false else {
                throw SeedError("\(field).check: exactly one of command, file_exists, regex (with file), judge")
            }
            let allowed: Set<String> = kinds[0] == "regex" ? ["regex", "file"] : [kinds[0]]
            guard Set(members.keys).isSubset(of: allowed), kinds[0] != "regex" || members["file"]?.stringValue != nil
            else {
                throw SeedError("\(field).check: a regex needs its file, and nothing else goes with a check")
            }
            if kinds[0] == "regex", (try? NSRegularExpression(pattern: members["regex"]?.stringValue ?? "")) == nil {
                throw SeedError("\(field).check.regex: not a valid regular expression")
            }
            return Criterion(id: id, criterion: text, check: check, critical: item["critical"] == true)
        }
        let entities = object["ontology"].flatMap { $0 == .null ? nil : $0 } ?? .array([])
        guard let list = entities.arrayValue else { throw SeedError("ontology: an array of {name, description}") }
        ontology = try list.enumerated().map { position, entity in
            guard let name = entity["name"]?.stringValue, !name.isEmpty,
                let description = entity["description"]?.stringValue
            else { throw SeedError("ontology[\(position)]: {name, description}") }
            return (name, description)
        }
    }

    /// The canonical form: what is stored and hashed.
    public var json: JSONValue {
        [
            "goal": .string(goal), "constraints": .array(constraints.map(JSONValue.string)),
            "acceptance": .array(
                acceptance.map {
                    [
                        "id": .string($0.id), "criterion": .string($0.criterion), "check": $0.check,
                        "critical": .bool($0.critical),
                    ]
                }
            ),
            "ontology": .array(ontology.map { ["name": .string($0.name), "description": .string($0.description)] }),
            "non_goals": .array(nonGoals.map(JSONValue.string)),
        ]
    }

    /// How alike two seeds are, 0 to 1: the Jaccard similarity of their words (goal, constraints, criteria,
    /// ontology, non-goals), lower-cased. The loop calls two generations converged above a threshold.
    public func similarity(to other: SeedDocument) -> Double {
        func words(_ seed: SeedDocument) -> Set<Substring> {
            let text = seed.json.canonicalJSON.lowercased()
            return Set(text.split { !$0.isLetter && !$0.isNumber }.filter { $0.count > 2 })
        }
        let (a, b) = (words(self), words(other))
        guard !a.isEmpty || !b.isEmpty else { return 1 }
        return Double(a.intersection(b).count) / Double(a.union(b).count)
    }
}

/// A seed document that is not valid, with the field at fault.
public struct SeedError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
