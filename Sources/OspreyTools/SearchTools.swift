import Foundation
public import OspreyCore

/// `search_tools`: what an agent with many tools calls to find the ones it needs. The model starts with a core set
/// and this tool; each call returns the best-matching deferred tools' schemas, and the agent's loop makes those
/// tools available for the rest of the run (``activated(by:)``).
///
/// Matching is lexical and deterministic: the query's words against each tool's name (weighted three times) and
/// description, each word weighted by how rare it is among the deferred tools (IDF), so a word every tool shares
/// counts for little.
public struct SearchTools: Tool {
    public struct Arguments: Decodable {
        var query: String
        var limit: Int?
    }

    public static let name = "search_tools"
    let catalog: [ToolDefinition]
    /// Each deferred tool's name words and description words.
    let words: [(name: [String: Int], description: [String: Int])]
    let weights: [String: Double]

    public init(deferred catalog: [ToolDefinition]) {
        self.catalog = catalog
        let words = catalog.map { tool in
            (name: Self.counts(Self.words(in: tool.name)), description: Self.counts(Self.words(in: tool.description)))
        }
        self.words = words
        var documents: [String: Int] = [:]
        for tool in words {
            for word in Set(tool.name.keys).union(tool.description.keys) { documents[word, default: 0] += 1 }
        }
        let count = Double(max(catalog.count, 1))
        weights = documents.mapValues { log(1 + count / Double($0)) }
    }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: Self.name,
            description: "Find more tools: \(catalog.count) tools are not listed yet. Describe what you need in a few "
                + "words; the best matches' schemas come back and they can be called from then on.",
            properties: [
                "query": .argument("string", "What the tool should do, in a few words"),
                "limit": .argument("integer", "Most tools to return (default 5, at most 20)"),
            ],
            required: ["query"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        ToolAssessment(risk: .read, untrustedOutput: false)
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let limit = min(max(arguments.limit ?? 5, 1), 20)
        let found = search(arguments.query, limit: limit)
        let tools = found.map { tool -> JSONValue in
            ["name": .string(tool.name), "description": .string(tool.description), "parameters": tool.parameters]
        }
        let note = found.isEmpty ? "No tool matches; try other words." : "These tools can be called from now on."
        return JSONValue.object(["tools": .array(tools), "note": .string(note)]).canonicalJSON
    }

    /// The best matches for `query`, best first; ties keep the catalog's order.
    public func search(_ query: String, limit: Int) -> [ToolDefinition] {
        let terms = Set(Self.words(in: query))
        let scored = catalog.indices.compactMap { index -> (Int, Double)? in
            let score = terms.reduce(0.0) { total, term in
                let weight = weights[term] ?? 0
                return total + weight
                    * Double(3 * (words[index].name[term] ?? 0) + (words[index].description[term] ?? 0))
            }
            return score > 0 ? (index, score) : nil
        }
        return scored.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(limit).map { catalog[$0.0] }
    }

    /// The tool names a `search_tools` result makes available.
    public static func activated(by output: String) -> [String] {
        guard let value = try? JSONValue.parse(output) else { return [] }
        return (value["tools"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    }

    /// Lower-cased words of letters and digits (`github__create_issue` → github, create, issue), with a plural `s`
    /// dropped so `issues` finds `issue`.
    static func words(in text: String) -> [String] {
        text.lowercased().split { !$0.isLetter && !$0.isNumber }.map { word in
            word.count > 3 && word.hasSuffix("s") && !word.hasSuffix("ss") ? String(word.dropLast()) : String(word)
        }
    }

    static func counts(_ words: [String]) -> [String: Int] {
        words.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }
}

extension Toolbox {
    /// For an agent with more than `threshold` tools: this toolbox plus `search_tools` over the tools of other
    /// parties (`server__tool`), and the names listed to the model at first (Osprey's own tools and
    /// `search_tools`); nil when there are not that many, or nothing to defer.
    public func deferring(above threshold: Int) -> (toolbox: Toolbox, listed: Set<String>)? {
        guard threshold > 0, names.count > threshold else { return nil }
        let listed = names.filter { !$0.contains("__") }
        let deferred = definitions.filter { $0.name.contains("__") }
        guard !deferred.isEmpty else { return nil }
        let search = SearchTools(deferred: deferred)
        return (adding([search]), Set(listed + [SearchTools.name]))
    }
}
