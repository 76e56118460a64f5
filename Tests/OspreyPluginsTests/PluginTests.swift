import Foundation
import OspreyCore
import OspreyPlugins
import OspreyTesting
import OspreyTools
import Testing
import WAT

/// Wasm plugins built from source in the repository (WAT through WasmKit's parser, C through clang and wasi-libc),
/// run under their fuel and memory caps.
struct PluginTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/plugins")

    static func manifest(_ name: String, fuel: Int = 10_000_000, memoryMB: Int = 16, extra: String = "") -> String {
        """
        name = "\(name)"
        version = "0.1.0"
        module = "\(name).wasm"
        \(extra)
        [limits]
        fuel = \(fuel)
        memory_mb = \(memoryMB)

        [[tools]]
        name = "run"
        description = "Runs."
        """
    }

    /// A plugin folder made from WAT text, under `home`.
    static func plugin(
        _ name: String,
        wat: String,
        in home: TemporaryDirectory,
        fuel: Int = 10_000_000,
        abi: String = "command",
        extra: String = ""
    ) throws -> WasmPlugin {
        let folder = home.url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try manifest(name, fuel: fuel, extra: "abi = \"\(abi)\"\n\(extra)").write(
            to: folder.appendingPathComponent("plugin.toml"),
            atomically: true,
            encoding: .utf8
        )
        try Data(try wat2wasm(wat)).write(to: folder.appendingPathComponent("\(name).wasm"))
        return try WasmPlugin(directory: folder)
    }

    /// A WASI command plugin that copies its stdin to its stdout.
    static var echo: String {
        get throws { try String(contentsOf: fixtures.appendingPathComponent("echo.wat"), encoding: .utf8) }
    }

    @Test func aWATCommandPluginGetsItsCallOnStdinAndAnswersOnStdout() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-plugins")
        defer { home.remove() }
        let plugin = try Self.plugin("echo", wat: try Self.echo, in: home)
        let answer = try await plugin.call("run", arguments: ["text": "héllo"])
        #expect(try JSONValue.parse(answer) == ["tool": "run", "arguments": ["text": "héllo"]])
        // Through the one check point: an untrusted plugin's output is fenced and taints.
        let tool = PluginTool(plugin: plugin, tool: plugin.manifest.tools[0], trusted: false)
        #expect(tool.definition.name == "echo__run")
        let result = try await Toolbox([tool]).call(
            ToolCall(id: ToolCall.ID("c1"), name: "echo__run", arguments: #"{"x":1}"#),
            context: ToolContext(workspace: try Workspace(root: home.url))
        )
        #expect(!result.isError && result.untrusted)
        #expect(result.output.contains(#""arguments":{"x":1}"#))
    }

    @Test(.timeLimit(.minutes(3))) func anInfiniteLoopRunsOutOfFuelOffTheCooperativePool() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-plugins")
        defer { home.remove() }
        let plugin = try Self.plugin(
            "spin",
            wat: #"(module (func (export "_start") (loop $forever (br $forever))))"#,
            in: home,
            fuel: 5_000_000
        )
        let finished = Collected()
        let call = Task {
            defer { finished.append("plugin") }
            return try await plugin.call("run", arguments: [:])
        }
        // While it spins on its own thread, work on the cooperative pool goes on (and finishes first).
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { _ = (0..<1000).reduce(0, +) } }
        }
        finished.append("pool")
        await #expect {
            try await call.value
        } throws: { error in
            guard case .outOfFuel(let name, let fuel)? = error as? PluginError else { return false }
            return name == "spin" && fuel == 5_000_000
        }
        #expect(finished.frames.first == "pool")
    }

    @Test func memoryPastTheCapIsRefused() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-plugins")
        defer { home.remove() }
        // Growing page by page until refused, then trapping; and asking for too much up front.
        let bomb = try Self.plugin(
            "bomb",
            wat: """
                (module (memory 1)
                  (func (export "_start")
                    (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
                    unreachable))
                """,
            in: home
        )
        await #expect(throws: PluginError.memoryCap(plugin: "bomb", bytes: 16 << 20)) {
            try await bomb.call("run", arguments: [:])
        }
        let greedy = try Self.plugin("greedy", wat: #"(module (memory 2000) (func (export "_start")))"#, in: home)
        await #expect(throws: PluginError.memoryCap(plugin: "greedy", bytes: 16 << 20)) {
            try await greedy.call("run", arguments: [:])
        }
        // Recursion without end hits the stack cap: a clear error, and the host's own stack is untouched.
        let deep = try Self.plugin(
            "deep",
            wat: #"(module (func $down (call $down)) (func (export "_start") (call $down)))"#,
            in: home
        )
        await #expect {
            try await deep.call("run", arguments: [:])
        } throws: { error in
            "\(error)".contains("plugin 'deep' failed") && "\(error)".lowercased().contains("stack")
        }
    }

    @Test func aModuleImportingAnUnknownHostFunctionIsRefusedAtLoad() throws {
        let home = try TemporaryDirectory(prefix: "osprey-plugins")
        defer { home.remove() }
        #expect {
            _ = try Self.plugin(
                "thief",
                wat: #"(module (import "env" "steal_secrets" (func)) (func (export "_start")))"#,
                in: home
            )
        } throws: { error in
            "\(error)".contains("imports env.steal_secrets, which Osprey does not offer")
        }
        #expect {
            _ = try Self.plugin("lazy", wat: #"(module (func (export "main")))"#, in: home)
        } throws: { error in
            "\(error)".contains("must export _start")
        }
    }

    @Test func aMalformedManifestIsAnErrorNamingTheField() {
        let cases: [(String, String)] = [
            ("version = \"1\"\nmodule = \"a.wasm\"", "name is required"),
            (Self.manifest("Bad Name"), "name must be 1-32"),
            (
                Self.manifest("ok").replacingOccurrences(of: "module = \"ok.wasm\"", with: "module = \"../x.wasm\""),
                "module must be a .wasm file"
            ),
            (Self.manifest("ok", fuel: 5), "limits.fuel must be an integer"),
            (
                Self.manifest("ok").replacingOccurrences(of: "name = \"run\"", with: "name = \"\""),
                "tools[0].name is required"
            ),
            (
                Self.manifest("ok").replacingOccurrences(of: "description = \"Runs.\"", with: ""),
                "tools[0].description is required"
            ),
            (Self.manifest("ok", extra: "abi = \"component\""), "abi must be"),
            (
                Self.manifest("ok", extra: "capabilities = { files = [\"a\"] }"),
                "capabilities.files is not a capability"
            ),
            (Self.manifest("ok", extra: "shell = true"), "unknown key 'shell'"),
            ("name = \"ok\"\nversion = \"1\"\nmodule = \"ok.wasm\"", "tools is required"),
        ]
        for (toml, message) in cases {
            #expect {
                _ = try PluginManifest(toml: toml)
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }

    @Test func aCPluginBuiltWithClangAndWASILibcCountsWords() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-plugins")
        defer { home.remove() }
        _ = try await WasmToolchain.buildFixture("wordcount", from: Self.fixtures, into: home.url)
        let plugins = Plugins.load(from: home.url)
        #expect(plugins.failures.isEmpty, "\(plugins.failures)")
        let tool = try #require(plugins.tools.first)
        #expect(tool.definition.name == "wordcount__count")
        let answer = try await Toolbox(plugins.tools).call(
            ToolCall(
                id: ToolCall.ID("c1"),
                name: "wordcount__count",
                arguments: #"{"text":"the osprey dives\nand rises"}"#
            ),
            context: ToolContext(workspace: try Workspace(root: home.url))
        )
        #expect(!answer.isError, "\(answer.output)")
        #expect(answer.output.contains(#"{"words":5,"lines":2,"characters":26}"#), "\(answer.output)")
    }

    /// A reactor that counts its calls in a global: its answer is `{"calls":N}`, written into its own memory.
    static let counter = #"""
        (module
          (import "osprey" "log" (func $log (param i32 i32)))
          (memory (export "memory") 1)
          (global $count (mut i32) (i32.const 0))
          (data (i32.const 16) "{\"calls\":0}")
          (func (export "osprey_alloc") (param $size i32) (result i32) (i32.const 1024))
          (func (export "osprey_call") (param $pointer i32) (param $length i32) (result i64)
            (global.set $count (i32.add (global.get $count) (i32.const 1)))
            (i32.store8 (i32.const 25) (i32.add (i32.const 48) (global.get $count)))
            (call $log (i32.const 16) (i32.const 11))
            (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 11))))
        """#

    @Test func aReactorKeepsItsStateBetweenCallsAndABadAnswerIsAnErrorNotACrash() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-plugins")
        defer { home.remove() }
        let counter = try Self.plugin("counter", wat: Self.counter, in: home, abi: "reactor")
        for expected in 1...3 {
            #expect(try await counter.call("run", arguments: [:]) == #"{"calls":\#(expected)}"#)
        }
        // An answer pointing outside the module's memory fails the call; the host is unharmed.
        let liar = try Self.plugin(
            "liar",
            wat: """
                (module (memory (export "memory") 1)
                  (func (export "osprey_alloc") (param i32) (result i32) (i32.const 0))
                  (func (export "osprey_call") (param i32 i32) (result i64) (i64.const 0x7fffffff00000010)))
                """,
            in: home,
            abi: "reactor"
        )
        await #expect {
            try await liar.call("run", arguments: [:])
        } throws: { error in
            "\(error)".contains("outside its memory")
        }
        // A reactor that imports what is not offered, or a host function with the wrong type, is refused at load.
        for (name, imported, message) in [
            (
                "greedy_reactor", #"(import "osprey" "run_shell" (func))"#,
                "imports osprey.run_shell, which Osprey does not"
            ),
            (
                "sloppy_reactor", #"(import "osprey" "read_file" (func))"#,
                "imports osprey.read_file with the wrong type"
            ),
        ] {
            #expect {
                _ = try Self.plugin(
                    name,
                    wat: "(module \(imported) (memory (export \"memory\") 1)"
                        + #"(func (export "osprey_alloc") (param i32) (result i32) (i32.const 0))"#
                        + #"(func (export "osprey_call") (param i32 i32) (result i64) (i64.const 0)))"#,
                    in: home,
                    abi: "reactor"
                )
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }
}
