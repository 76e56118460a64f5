import OspreyAgent
import OspreyCore
import OspreyStore
import OspreyTesting
import OspreyTools
import Testing

/// An agent with more tools than its `tool_search_threshold` starts with a core set and `search_tools`.
struct ToolSearchTests {
    /// A tool of another party (`server__tool`) that answers with its own name.
    struct Named: Tool {
        typealias Arguments = JSONValue
        let definition: ToolDefinition
        init(_ name: String, _ description: String) {
            definition = ToolDefinition(name: name, description: description, properties: [:])
        }
        func assess(_ arguments: JSONValue, context: ToolContext) -> ToolAssessment {
            ToolAssessment(risk: .read, untrustedOutput: false)
        }
        func call(_ arguments: JSONValue, context: ToolContext) async throws -> String { "ran \(definition.name)" }
    }

    static let servers: [any Tool] =
        [
            Named("weather__forecast", "The weather forecast for a city, day by day."),
            Named("github__create_issue", "Open a new issue in a GitHub repository."),
            Named("github__list_issues", "List the open issues of a repository."),
            Named("db__query", "Run a read-only SQL query on the database."),
        ] + (0..<36).map { Named("misc__tool_\($0)", "A miscellaneous helper number \($0).") }

    @Test func searchFindsByNameAndDescriptionWordsRareOnesFirst() {
        let search = SearchTools(deferred: Self.servers.map(\.definition))
        #expect(search.search("create an issue", limit: 3).first?.name == "github__create_issue")
        #expect(
            search.search("issues", limit: 5).map(\.name).prefix(2).sorted()
                == ["github__create_issue", "github__list_issues"]
        )
        #expect(search.search("tomorrow's forecast in Paris", limit: 1).map(\.name) == ["weather__forecast"])
        #expect(search.search("zzz", limit: 5).isEmpty)
    }

    @Test func anAgentWithManyToolsSeesACoreSetAndAddsWhatItSearchesFor() async throws {
        let provider = ScriptedProvider(messages: [
            .toolCall("search_tools", #"{"query":"weather forecast"}"#),
            .toolCall("weather__forecast", #"{}"#, id: "call_2"),
            .assistant("Sunny."),
        ])
        let fixture = try await AgentFixture(
            provider: provider,
            toolbox: Toolbox(Toolbox.builtInTools + Self.servers)
        )
        let result = try await fixture.run("What is the weather tomorrow?")
        #expect(result.message.text == "Sunny.")
        let requests = provider.requests
        #expect(requests.count == 3)
        // The first request lists Osprey's own tools and search_tools, none of the 40 others,
        let first = Set(requests[0].tools.map(\.name))
        #expect(first == Set(Toolbox.builtIn.names + ["search_tools"]))
        // then what the search found is listed for the rest of the run, and nothing else is.
        let second = Set(requests[1].tools.map(\.name))
        #expect(second == first.union(["weather__forecast"]))
        #expect(Set(requests[2].tools.map(\.name)) == second)
        let everything = Toolbox(Toolbox.builtInTools + Self.servers).definitions
        #expect(ContextGuard.estimate([], tools: requests[0].tools) < ContextGuard.estimate([], tools: everything))
        let results = try await fixture.store.sessions.messages(of: fixture.session.id).flatMap(\.message.toolResults)
        #expect(results.last?.output == "ran weather__forecast")
    }

    @Test func underTheThresholdOrWithItOffEveryToolIsListed() async throws {
        for threshold in [0, 100] {
            var settings = OspreyConfig.Agent()
            settings.toolSearchThreshold = threshold
            let provider = ScriptedProvider(messages: [.assistant("ok")])
            let fixture = try await AgentFixture(
                provider: provider,
                settings: settings,
                toolbox: Toolbox(Toolbox.builtInTools + Self.servers)
            )
            _ = try await fixture.run("hi")
            #expect(provider.requests.first?.tools.count == Toolbox.builtIn.names.count + Self.servers.count)
        }
    }
}
