import Foundation
import OspreyCore
import OspreyStore
import OspreyTools

/// A coordinator's plan for one generation of a spec run, checked against its seed: 1-20 steps with unique names,
/// known personas, needs that are steps (no cycle), prompts that only insert steps they need, every acceptance
/// criterion covered and nothing but the seed's criteria named. Errors name the step and the field.
struct SpecPlan {
    struct Step {
        var name: String
        var persona: String
        var prompt: String
        var needs: [String]
        var covers: [String]
    }

    var steps: [Step]

    init(_ answer: String, seed: SeedDocument, personas: Set<String>) throws {
        guard let plan = JSONValue.outermostObject(in: answer), let entries = plan["steps"]?.arrayValue else {
            throw SeedError("the plan is not a JSON object with 'steps'")
        }
        guard (1...20).contains(entries.count) else { throw SeedError("a plan has 1 to 20 steps") }
        let criteria = Set(seed.acceptance.map(\.id))
        func strings(_ value: JSONValue?, _ field: String) throws -> [String] {
            guard let value, value != .null else { return [] }
            guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
                throw SeedError("\(field): an array of strings")
            }
            return items.compactMap(\.stringValue)
        }
        var names: Set<String> = []
        steps = try entries.enumerated().map { position, entry in
            guard let name = entry["name"]?.stringValue,
                name.range(of: "^[a-z0-9][a-z0-9_-]{0,39}$", options: .regularExpression) != nil
            else { throw SeedError("steps[\(position)].name: 1-40 of a-z 0-9 _ -") }
            guard names.insert(name).inserted else { throw SeedError("step '\(name)': the name is used twice") }
            let persona = entry["persona"]?.stringValue ?? ""
            guard personas.isEmpty || personas.contains(persona) else {
                throw SeedError(
                    "step '\(name)'.persona: '\(persona)' is not a persona (\(personas.sorted().joined(separator: ", ")))"
                )
            }
            guard let prompt = entry["prompt"]?.stringValue, !prompt.isEmpty, prompt.utf8.count <= 16_384 else {
                throw SeedError("step '\(name)'.prompt: the subtask's instructions, up to 16 KiB")
            }
            let covers = try strings(entry["covers"], "step '\(name)'.covers")
            if let unknown = covers.first(where: { !criteria.contains($0) }) {
                throw SeedError("step '\(name)'.covers: '\(unknown)' is not an acceptance criterion of the seed")
            }
            return Step(
                name: name,
                persona: persona,
                prompt: prompt,
                needs: try strings(entry["needs"], "step '\(name)'.needs"),
                covers: covers
            )
        }
        let covered = Set(steps.flatMap(\.covers))
        if let missing = seed.acceptance.first(where: { !covered.contains($0.id) }) {
            throw SeedError("criterion '\(missing.id)' is covered by no step")
        }
    }

    /// The plan as a workflow whose steps are named `<prefix><name>`: each a prompt in its persona, verified by the
    /// mechanical checks of the criteria it covers before its dependents start.
    ///
    /// `note` is added to every prompt (a speculative branch says which alternative it is).
    func workflow(prefix: String, seed: SeedRecord, note: String? = nil) throws -> Workflow {
        let criteria = Dictionary(uniqueKeysWithValues: seed.document.acceptance.map { ($0.id, $0) })
        let workflowSteps = steps.map { step in
            var prompt = step.prompt + (note.map { "\n\n" + $0 } ?? "")
            for other in steps {
                prompt = prompt.replacingOccurrences(
                    of: "{{steps.\(other.name)}}",
                    with: "{{steps.\(prefix)\(other.name)}}"
                )
            }
            return Workflow.Step(
                name: prefix + step.name,
                needs: step.needs.map { prefix + $0 },
                action: .prompt(prompt, agent: nil, persona: step.persona.isEmpty ? nil : step.persona),
                acceptance: step.covers.compactMap { criteria[$0].flatMap(Self.check) }
            )
        }
        do {
            return try Workflow(name: "spec \(seed.id.rawValue)", steps: workflowSteps)
        } catch let error as SkillError {
            // The workflow's own words, less its file name and with the plan's step names.
            let said = "\(error)".replacingOccurrences(of: "\(Workflow.fileName): ", with: "")
                .replacingOccurrences(of: "'\(prefix)", with: "'")
            throw SeedError(said)
        }
    }

    /// A mechanical criterion as a step's acceptance check (nil for a judge, or a text with template braces).
    static func check(_ criterion: SeedDocument.Criterion) -> Workflow.Check? {
        let check = criterion.check
        let text = check.canonicalJSON
        guard !text.contains("{{") else { return nil }
        switch criterion.kind {
        case "command": return check["command"]?.stringValue.map(Workflow.Check.command)
        case "file_exists": return check["file_exists"]?.stringValue.map(Workflow.Check.fileExists)
        case "regex":
            guard let pattern = check["regex"]?.stringValue, let file = check["file"]?.stringValue else { return nil }
            return .command("grep -Eq -- \(Workflow.shellQuoted(pattern)) \(Workflow.shellQuoted(file))")
        default: return nil
        }
    }
}
