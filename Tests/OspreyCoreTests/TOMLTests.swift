import OspreyCore
import Testing

struct TOMLTests {
    @Test func readsTablesArraysOfTablesAndEveryStringKind() throws {
        let document = try TOML.parse(
            #"""
            # comment
            title = "Osprey \"kernel\"" # trailing
            literal = 'C:\path'
            multi = """
            line one
            line two"""
            raw = '''
            keep \n as is'''
            [gateway]
            port = 18_470
            ratio = 0.5
            on = true
            hosts = ["a", "b",
              "c", ] # multi-line array
            inline = { x = 1, y.z = "w" }
            a.b.c = 1

            [[providers]]
            name = "one"
            [[providers]]
            name = "two"
            models = []
            [providers.extra]
            k = 'v'
            """#
        )
        #expect(document["title"] == "Osprey \"kernel\"")
        #expect(document["literal"] == "C:\\path")
        #expect(document["multi"] == "line one\nline two")
        #expect(document["raw"] == "keep \\n as is")
        #expect(document["gateway"]?["port"] == 18470)
        #expect(document["gateway"]?["ratio"] == 0.5)
        #expect(document["gateway"]?["on"] == true)
        #expect(document["gateway"]?["hosts"] == ["a", "b", "c"])
        #expect(document["gateway"]?["inline"] == ["x": 1, "y": ["z": "w"]])
        #expect(document["gateway"]?["a"]?["b"]?["c"] == 1)
        #expect(document["providers"]?.arrayValue?.count == 2)
        #expect(document["providers"]?.arrayValue?[1]["extra"]?["k"] == "v")
    }

    @Test(arguments: [
        ("a = 1\na = 2", "defined twice"),
        ("[t]\n[t]", "defined twice"),
        ("a = unquoted", "strings need quotes"),
        ("a = \"open", "unterminated"),
        ("a = 1 b = 2", "expected end of line"),
        ("= 1", "expected a key"),
    ])
    func badDocumentsNameTheLineAndTheProblem(text: String, fragment: String) {
        do {
            _ = try TOML.parse(text)
            Issue.record("expected an error for \(text)")
        } catch let error as TOMLError {
            #expect(error.description.contains(fragment), "\(error)")
            #expect(error.line >= 1)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

struct ConfigTests {
    @Test func theWrittenDefaultsParseToTheBuiltInDefaults() throws {
        var expected = OspreyConfig()
        var agent = OspreyConfig.Agent()
        agent.tools = OspreyConfig.Agent.defaultAgentTools
        expected.agents["default"] = agent
        #expect(try OspreyConfig(toml: OspreyConfig.defaultText) == expected)
    }

    @Test func aNewHomeGetsAProviderForEachAPIKeyInTheEnvironment() throws {
        let none = try OspreyConfig(toml: OspreyConfig.initialText(environment: [:]))
        #expect(none.providers.isEmpty && none.localModelEnabled)
        let both = try OspreyConfig(
            toml: OspreyConfig.initialText(environment: ["ANTHROPIC_API_KEY": "sk-ant", "OPENAI_API_KEY": "sk"])
        )
        #expect(both.providers.map(\.name) == ["anthropic", "openai"])
        #expect(both.providers.allSatisfy { $0.apiKey?.hasPrefix("${env:") == true })
        #expect(!both.localModelEnabled)
        #expect(!OspreyConfig.initialText(environment: ["OPENAI_API_KEY": "sk-secret"]).contains("sk-secret"))
    }

    @Test func aNewHomeWithNoAPIKeyGivesItsDefaultAgentOnTheLocalModelTheFileTools() throws {
        // With no key (or an empty one) the default agent runs on the local model, with its file tools
        for environment in [[:], ["OPENAI_API_KEY": ""]] {
            let text = OspreyConfig.initialText(environment: environment)
            let config = try OspreyConfig(toml: text)
            #expect(config.localModelEnabled)
            #expect(config.agent("default").tools == OspreyConfig.Agent.localModelTools)
            // and the file says why, with the full grant to copy once there is a provider
            #expect(text.contains("# No API key was set when this file was written"))
            #expect(text.contains("# " + OspreyConfig.grant(OspreyConfig.Agent.defaultAgentTools)))
        }
        // With a key, every built-in tool, as before
        for environment in [["ANTHROPIC_API_KEY": "sk-ant"], ["OPENAI_API_KEY": "sk"]] {
            let config = try OspreyConfig(toml: OspreyConfig.initialText(environment: environment))
            #expect(config.agent("default").tools == OspreyConfig.Agent.defaultAgentTools)
        }
        // And the local model's grant is a subset of the full one
        #expect(Set(OspreyConfig.Agent.localModelTools).isSubset(of: OspreyConfig.Agent.defaultAgentTools))
    }

    @Test func settingsOverrideDefaults() throws {
        let config = try OspreyConfig(
            toml: """
                [gateway]
                port = 9000
                max_body_bytes = 4096
                [ledger]
                synchronous = "normal"
                [[providers]]
                name = "llamacpp"
                kind = "openai"
                base_url = "http://127.0.0.1:8080/v1"
                timeout_seconds = 600
                [[providers]]
                name = "openai"
                [memory]
                bfloat16 = false
                """
        )
        #expect(config.providers.map(\.timeoutSeconds) == [600, 120])
        #expect(!config.memory.bfloat16)
        #expect(config.gateway.port == 9000)
        #expect(config.gateway.maxBodyBytes == 4096)
        #expect(config.ledger.synchronous == "normal")
        #expect(config.providers.map(\.name) == ["llamacpp", "openai"])
    }

    @Test(arguments: [
        ("[gateway]\nprot = 1", "unknown key 'gateway.prot'"),
        ("[gateway]\nport = \"80\"", "gateway.port must be an integer"),
        ("[gateway]\nport = 70000", "gateway.port must be an integer"),
        ("[ledger]\nsynchronous = \"off\"", "ledger.synchronous"),
        ("[[providers]]\nkind = \"openai\"", "providers[0].name is required"),
        (
            "[[providers]]\nname = \"p\"\ntimeout_seconds = 0",
            "providers[0].timeout_seconds must be an integer in 1...3600"
        ),
        ("gateway = 1", "[gateway] must be a table"),
        ("[memory]\nbfloat16 = \"no\"", "memory.bfloat16"),
    ])
    func invalidSettingsAreRejectedWithTheirKey(text: String, fragment: String) {
        do {
            _ = try OspreyConfig(toml: text)
            Issue.record("expected an error")
        } catch let error as ConfigError {
            #expect(error.message.contains(fragment), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

struct MCPServerConfigTests {
    @Test func mcpServersAreReadWithTheirDefaultsAndBadOnesRefusedClearly() throws {
        let config = try OspreyConfig(
            toml: """
                [[mcp_servers]]
                name = "files"
                command = "npx"
                args = ["-y", "server"]
                env = { TOKEN = "${secret:t}" }
                tools_deny = ["delete"]

                [[mcp_servers]]
                name = "db"
                command = "/usr/bin/db-mcp"
                trust = "trusted"
                timeout_seconds = 5

                [[mcp_servers]]
                name = "web"
                transport = "http"
                url = "http://127.0.0.1:8931/mcp"
                headers = { Authorization = "Bearer ${secret:web}" }
                private_addresses = ["127.0.0.1"]
                """
        )
        #expect(config.mcpServers[2].transport == "http" && config.mcpServers[2].url == "http://127.0.0.1:8931/mcp")
        #expect(config.mcpServers[2].headers == ["Authorization": "Bearer ${secret:web}"])
        #expect(config.mcpServers[2].privateAddresses == ["127.0.0.1"])
        #expect(config.mcpServers.map(\.name) == ["files", "db", "web"])
        #expect(config.mcpServers[0].trust == "untrusted" && config.mcpServers[0].timeoutSeconds == 60)
        #expect(config.mcpServers[0].env == ["TOKEN": "${secret:t}"] && config.mcpServers[0].toolsDeny == ["delete"])
        #expect(config.mcpServers[1].trust == "trusted" && config.mcpServers[1].timeoutSeconds == 5)
        for (toml, message) in [
            ("name = \"a__b\"\ncommand = \"x\"", "name is required"),
            ("name = \"ok\"", "command is required"),
            ("name = \"ok\"\ncommand = \"x\"\ntransport = \"http\"", "url is required for an http server"),
            ("name = \"ok\"\ntransport = \"http\"\nurl = \"file:///etc/passwd\"", "url is required"),
            ("name = \"ok\"\ntransport = \"sse\"\nurl = \"http://x\"", "transport must be"),
            ("name = \"ok\"\ncommand = \"x\"\ntrust = \"maybe\"", "trust must be"),
            ("name = \"ok\"\ncommand = \"x\"\nshell = true", "unknown key"),
        ] {
            #expect {
                try OspreyConfig(toml: "[[mcp_servers]]\n" + toml)
            } throws: { error in
                "\(error)".contains(message)
            }
        }
        #expect(throws: ConfigError.self) {
            try OspreyConfig(
                toml: "[[mcp_servers]]\nname = \"a\"\ncommand = \"x\"\n[[mcp_servers]]\nname = \"a\"\ncommand = \"y\""
            )
        }
    }
}

struct A2AConfigTests {
    @Test func theA2ASectionsAreReadWithTheirDefaultsAndATokenInClearIsRefused() throws {
        let config = try OspreyConfig(
            toml: """
                [a2a]
                public_card = true
                agent = "helper"

                [[a2a_agents]]
                name = "research"
                url = "https://agents.example.com/a2a"
                description = "Finds papers."
                token = "${secret:research}"

                [[a2a_agents]]
                name = "local"
                url = "http://127.0.0.1:9999/"
                private_addresses = ["127.0.0.1"]
                trust = "trusted"
                timeout_seconds = 30
                """
        )
        #expect(config.a2a.publicCard && !config.a2a.trustInbound && config.a2a.agent == "helper")
        #expect(config.a2aAgents.map(\.name) == ["research", "local"])
        #expect(config.a2aAgents[0].token == "${secret:research}" && config.a2aAgents[0].trust == "untrusted")
        #expect(config.a2aAgents[0].timeoutSeconds == 300 && config.a2aAgents[0].description == "Finds papers.")
        #expect(config.a2aAgents[1].privateAddresses == ["127.0.0.1"] && config.a2aAgents[1].trust == "trusted")
        #expect(!OspreyConfig().a2a.publicCard && OspreyConfig().a2a.agent == "default")
        for (toml, message) in [
            ("[[a2a_agents]]\nname = \"x\"\nurl = \"http://h/\"\ntoken = \"abc123\"", "never the token in clear"),
            ("[[a2a_agents]]\nname = \"x\"\nurl = \"ftp://h/\"", "url is required"),
            ("[[a2a_agents]]\nname = \"Bad Name\"\nurl = \"http://h/\"", "name is required"),
            ("[[a2a_agents]]\nname = \"x\"\nurl = \"http://h/\"\ntrust = \"maybe\"", "trust must be"),
            (
                "[[a2a_agents]]\nname = \"x\"\nurl = \"http://h/\"\n[[a2a_agents]]\nname = \"x\"\nurl = \"http://i/\"",
                "two a2a_agents"
            ),
            ("[a2a]\npublic = true", "unknown key"),
        ] {
            #expect {
                try OspreyConfig(toml: toml)
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }
}

struct TelemetryConfigTests {
    @Test func metricsAndTracingAreReadAndBadValuesRefused() throws {
        let config = try OspreyConfig(
            toml: """
                [metrics]
                require_token = false

                [tracing]
                enabled = true
                endpoint = "http://127.0.0.1:4318/v1/traces"
                protocol = "http/json"
                batch_milliseconds = 100
                """
        )
        #expect(!config.metrics.requireToken && OspreyConfig().metrics.requireToken)
        #expect(
            config.tracing.enabled && config.tracing.protocol == "http/json" && config.tracing.batchMilliseconds == 100
        )
        #expect(!OspreyConfig().tracing.enabled && OspreyConfig().tracing.serviceName == "osprey")
        for (toml, message) in [
            ("[tracing]\nprotocol = \"grpc\"", "tracing.protocol"),
            ("[tracing]\nendpoint = \"file:///tmp/x\"", "tracing.endpoint"),
            ("[tracing]\nbatch_milliseconds = 0", "batch_milliseconds"),
            ("[metrics]\nopen = true", "unknown key"),
        ] {
            #expect {
                try OspreyConfig(toml: toml)
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }
}
