import Foundation
import OspreyCore
import OspreyPlugins
import OspreySandbox
import OspreyTesting
import OspreyTools
import Testing
import WAT

/// The host functions a plugin reaches Osprey through (`sdk/c/osprey.h`): files through the workspace jail and the
/// manifest's grants, HTTP through the grants, the agent's allowlist and the SSRF guard, secrets only those granted
/// (and redacted from the answer), the plugin's own store; every denial a `policy.decision` event.
struct PluginHostTests {
    static let secret = "s3cr3t-plugin-key-value-0042"

    /// The C fixture `hostcalls` (sdk/c/osprey.h) built and loaded, with a workspace and the events it records.
    struct Bench {
        let home: TemporaryDirectory
        let workspace: Workspace
        let events = Collected()
        var plugins: Plugins
        var lookups: Collected

        init() async throws {
            home = try TemporaryDirectory(prefix: "osprey-plugin-host")
            let plugins = home.url.appendingPathComponent("plugins")
            _ = try await WasmToolchain.buildFixture("hostcalls", from: PluginTests.fixtures, into: plugins)
            let root = home.url.appendingPathComponent("workspace")
            for (path, text) in [
                ("data/a.txt", "alpha"), ("data/long.txt", String(repeating: "0123456789", count: 4)),
                ("notes/n.md", "a note"), ("private.txt", "not granted"),
            ] {
                let file = root.appendingPathComponent(path)
                try FileManager.default.createDirectory(
                    at: file.deletingLastPathComponent(),
                    withIntermediateDirectories: true
                )
                try text.write(to: file, atomically: true, encoding: .utf8)
            }
            try "outside".write(to: home.url.appendingPathComponent("outside.txt"), atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(
                atPath: root.appendingPathComponent("data/passwd").path,
                withDestinationPath: "/etc/passwd"
            )
            workspace = try Workspace(root: root)
            let lookups = Collected()
            self.lookups = lookups
            self.plugins = Plugins.load(from: plugins) { name in
                lookups.append(.string(name))
                guard name == "PLUGIN_KEY" || name == "OTHER_KEY" else {
                    throw SecretError("no secret named '\(name)'")
                }
                return PluginHostTests.secret
            }
        }

        /// Calls `hostcalls__TOOL`; the plugin's `{"code", "text"}` and the tool result.
        func call(
            _ tool: String,
            _ arguments: JSONValue,
            egress: EgressPolicy = EgressPolicy()
        ) async throws -> (code: Int, text: String, result: ToolResult) {
            let events = self.events
            var context = ToolContext(workspace: workspace) { draft in events.append(draft.payload) }
            context.egress = egress
            let result = try await Toolbox(plugins.tools).call(
                ToolCall(id: ToolCall.ID("c1"), name: "hostcalls__\(tool)", arguments: arguments.canonicalJSON),
                context: context
            )
            #expect(!result.isError, "\(result.output)")
            let json = try #require(result.output.firstIndex(of: "{").map { String(result.output[$0...]) })
            let body = String(json.prefix(through: json.lastIndex(of: "}") ?? json.startIndex))
            let answer = try JSONValue.parse(body)
            return (answer["code"]?.intValue ?? 0, answer["text"]?.stringValue ?? "", result)
        }

        /// The capability denials recorded, as (capability, target).
        var denials: [String] {
            events.frames.filter { $0["rule"] == "plugin.capability" }.map {
                "\($0["capability"]?.stringValue ?? "") \($0["target"]?.stringValue ?? "")"
            }
        }
    }

    @Test func filesGoThroughTheGrantsAndTheJailAndEveryDenialIsAPolicyDecision() async throws {
        let bench = try await Bench()
        defer { bench.home.remove() }
        #expect(bench.plugins.failures.isEmpty, "\(bench.plugins.failures)")
        let read = try await bench.call("read", ["target": "data/a.txt"])
        #expect(read.code == 5 && read.text == "alpha", "\(read)")
        // An answer longer than the plugin's buffer comes through osprey_result.
        let long = try await bench.call("read_small", ["target": "data/long.txt"])
        #expect(long.code == 40 && long.text == String(repeating: "0123456789", count: 4), "\(long)")
        #expect(try await bench.call("read", ["target": "notes/n.md"]).text == "a note")
        #expect(try await bench.call("read", ["target": "data/missing.txt"]).code == -2)
        // Outside the grants, outside the workspace, or through a symlink that leads out: nothing is read.
        for hostile in ["private.txt", "/etc/passwd", "../outside.txt", "data/../private.txt", "notes/n.txt"] {
            let refused = try await bench.call("read", ["target": .string(hostile)])
            #expect(refused.code == -1, "\(hostile): \(refused)")
            #expect(refused.text.hasPrefix("denied: "), "\(refused.text)")
        }
        let link = try await bench.call("read", ["target": "data/passwd"])
        #expect(link.code == -3 && !link.text.contains("root:"), "\(link)")
        let wrote = try await bench.call("write", ["target": "out/r.txt", "data": "written by a plugin"])
        #expect(wrote.code == 0, "\(wrote)")
        let written = bench.workspace.root.appendingPathComponent("out/r.txt")
        #expect(try String(contentsOf: written, encoding: .utf8) == "written by a plugin")
        #expect(try await bench.call("write", ["target": "data/a.txt", "data": "overwritten"]).code == -1)
        #expect(try await bench.call("write", ["target": "/tmp/osprey-plugin-escape", "data": "x"]).code == -1)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/osprey-plugin-escape"))
        let alpha = bench.workspace.root.appendingPathComponent("data/a.txt")
        #expect(try String(contentsOf: alpha, encoding: .utf8) == "alpha")
        #expect(
            bench.denials == [
                "read private.txt", "read /etc/passwd", "read ../outside.txt", "read data/../private.txt",
                "read notes/n.txt", "write data/a.txt", "write /tmp/osprey-plugin-escape",
            ]
        )
        let denial = try #require(bench.events.frames.first { $0["rule"] == "plugin.capability" })
        #expect(denial["verdict"] == "deny" && denial["plugin"] == "hostcalls" && denial["tool"] == "hostcalls__read")
    }

    @Test func fetchesReachOnlyGrantedHostsOnTheAgentsAllowlistThroughTheSSRFGuard() async throws {
        let bench = try await Bench()
        defer { bench.home.remove() }
        let server = ScriptedHTTPServer(
            responses: [],
            fallback: ScriptedHTTPServer.Response(headers: ["Content-Type": "text/plain"], chunks: ["hello plugin"])
        )
        try await server.run { server in
            let url = JSONValue.string("http://127.0.0.1:\(server.port)/data")
            // The operator lets the agent reach this loopback service: the plugin, which asked for the host, may.
            let trusted = EgressPolicy(allowedHosts: ["127.0.0.1"], allowedPrivateAddresses: ["127.0.0.1"])
            let fetched = try await bench.call("fetch", ["target": url], egress: trusted)
            let page = try #require(try? JSONValue.parse(fetched.text), "\(fetched)")
            #expect(page["status"] == 200 && page["body"] == "hello plugin", "\(fetched)")
            // Fetched content is untrusted: the answer is fenced for the model.
            #expect(fetched.result.untrusted)
            #expect(server.requests.count == 1)
            // Loopback without the operator's leave is refused by the SSRF guard; a host off the agent's allowlist,
            // or one the plugin did not ask for, is refused before any connection.
            let loopback = try await bench.call(
                "fetch",
                ["target": url],
                egress: EgressPolicy(allowedHosts: ["127.0.0.1"])
            )
            #expect(loopback.code == -1 && loopback.text.contains("loopback"), "\(loopback)")
            #expect(try await bench.call("fetch", ["target": url]).code == -1)
            let ungranted = try await bench.call(
                "fetch",
                ["target": "http://169.254.169.254/latest/meta-data/"],
                egress: EgressPolicy(allowedHosts: ["169.254.169.254"], allowedPrivateAddresses: ["169.254.169.254"])
            )
            #expect(ungranted.code == -1 && ungranted.text.contains("did not ask for hosts"), "\(ungranted)")
            #expect(server.requests.count == 1)
            #expect(bench.denials == ["hosts 127.0.0.1", "hosts 127.0.0.1", "hosts 169.254.169.254"])
        }
    }

    @Test func aSecretIsGivenOnlyWhenGrantedAndNeverReachesTheModel() async throws {
        let bench = try await Bench()
        defer { bench.home.remove() }
        let given = try await bench.call("secret", ["target": "PLUGIN_KEY"])
        #expect(given.code == Self.secret.utf8.count)
        #expect(!given.result.output.contains(Self.secret))
        #expect(given.text == "[REDACTED:PLUGIN_KEY]", "\(given)")
        let refused = try await bench.call("secret", ["target": "OTHER_KEY"])
        #expect(refused.code == -1)
        // An ungranted secret is never even looked up.
        #expect(bench.lookups.frames == ["PLUGIN_KEY"])
        #expect(bench.denials == ["secrets OTHER_KEY"])
    }

    @Test func thePluginsOwnStoreKeepsStateAcrossCallsAndRestarts() async throws {
        var bench = try await Bench()
        defer { bench.home.remove() }
        #expect(try await bench.call("count", ["target": "counter/a"]).text == "1")
        #expect(try await bench.call("count", ["target": "counter/a"]).text == "2")
        #expect(try await bench.call("count", ["target": "counter/b"]).text == "1")
        // A gateway that starts again finds the store as it was left.
        bench.plugins = Plugins.load(from: bench.home.url.appendingPathComponent("plugins"))
        #expect(try await bench.call("count", ["target": "counter/a"]).text == "3")
        #expect(try await bench.call("count", ["target": "settings"]).code == -1)
        #expect(bench.denials == ["kv settings"])
        // A store that does not parse is kept aside, never overwritten unread; the plugin starts afresh.
        let state = bench.home.url.appendingPathComponent("plugins/.state")
        try "{not json".write(to: state.appendingPathComponent("hostcalls.json"), atomically: true, encoding: .utf8)
        bench.plugins = Plugins.load(from: bench.home.url.appendingPathComponent("plugins"))
        #expect(try await bench.call("count", ["target": "counter/a"]).text == "1")
        let kept = try FileManager.default.contentsOfDirectory(atPath: state.path)
        #expect(kept.contains { $0.hasPrefix("hostcalls.json.corrupt-") }, "\(kept)")
        // What a plugin may reach decides how its calls are judged: this one may fetch.
        #expect(bench.events.frames.filter { $0["rule"] != "plugin.capability" }.allSatisfy { $0["risk"] == "network" })
    }

    @Test func aReactorReachesTheHostOfTheCallInProgress() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-plugin-host")
        defer { home.remove() }
        let reader = try PluginTests.plugin(
            "reader",
            wat: #"""
                (module
                  (import "osprey" "read_file" (func $read (param i32 i32 i32 i32) (result i32)))
                  (memory (export "memory") 1)
                  (data (i32.const 1024) "data/a.txt")
                  (func (export "osprey_alloc") (param i32) (result i32) (i32.const 0))
                  (func (export "osprey_call") (param i32 i32) (result i64)
                    (i64.or (i64.const 0x0000080000000000)
                      (i64.extend_i32_u (call $read (i32.const 1024) (i32.const 10) (i32.const 2048) (i32.const 4096))))))
                """#,
            in: home,
            abi: "reactor",
            extra: #"capabilities = { read = ["data/"] }"#
        )
        let root = home.url.appendingPathComponent("workspace/data")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try "alpha".write(to: root.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        let workspace = try Workspace(root: root.deletingLastPathComponent())
        for _ in 0..<2 {
            let host = PluginHost(
                plugin: reader.manifest,
                tool: "reader__run",
                context: ToolContext(workspace: workspace)
            )
            #expect(try await reader.call("run", arguments: [:], host: host) == "alpha")
        }
        // Without a call's context nothing is granted: the answer is an error, not a read.
        await #expect(throws: PluginError.self) { try await reader.call("run", arguments: [:]) }
    }

    @Test func aManifestMustAskForCapabilitiesByTheirNamesAndInsideTheWorkspace() {
        for (extra, message) in [
            (#"capabilities = { shell = ["sh"] }"#, "capabilities.shell is not a capability"),
            (#"capabilities = { read = ["/etc/"] }"#, "capabilities.read entry '/etc/' must be a path inside"),
            (#"capabilities = { write = ["out/../../x"] }"#, "capabilities.write entry 'out/../../x' must be a path"),
            (#"capabilities = { hosts = ["a b"] }"#, "capabilities.hosts entry 'a b' is not a host name"),
            (#"capabilities = { secrets = "KEY" }"#, "capabilities.secrets must be an array"),
        ] {
            #expect {
                _ = try PluginManifest(toml: PluginTests.manifest("ok", extra: extra))
            } throws: { error in
                "\(error)".contains(message)
            }
        }
        let asked = try? PluginManifest(
            toml: PluginTests.manifest("ok", extra: #"capabilities = { read = ["data/"], kv = ["*"] }"#)
        )
        #expect(asked?.capabilities.allows("data/x/y.txt", writing: false) == true)
        #expect(asked?.capabilities.allows("data/x/y.txt", writing: true) == false)
        #expect(asked?.capabilities.allows(key: "anything") == true)
    }
}
