import ArgumentParser
import Foundation
import OspreyCore
import OspreyPlugins
import WAT

/// `osprey-bench plugins`: what a Wasm plugin call costs: an echo command plugin (WAT: stdin copied to stdout) called
/// on the calling thread (a fresh instance each call: the WASI bridge, in-memory stdio, instantiation of the cached
/// module, `_start`), and through `call` (the same on a thread of its own, awaited from a task); and an empty module's
/// instantiation alone.
struct PluginBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "Wasm plugin call overhead and instantiation of a cached module."
    )
    @Option(help: "Calls per measure.") var calls = 2000

    @Option(help: "The echo plugin's WAT (run from the repository root).") var echoWAT =
        "Tests/Fixtures/plugins/echo.wat"

    /// A reactor that answers with its request, in place: `osprey_call` returns the pointer and length it got.
    static let reactorEcho = """
        (module (memory (export "memory") 1)
          (func (export "osprey_alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "osprey_call") (param $p i32) (param $n i32) (result i64)
            (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n)))))
        """

    func plugin(_ wat: String, abi: String = "command") throws -> WasmPlugin {
        let manifest = try PluginManifest(
            toml: """
                name = "bench"
                version = "1"
                module = "bench.wasm"
                abi = "\(abi)"
                [[tools]]
                name = "echo"
                description = "Echoes."
                """
        )
        return try WasmPlugin(manifest: manifest, module: try wat2wasm(wat), directory: URL(fileURLWithPath: "/"))
    }

    func run() async throws {
        try await report {
            let echo = try plugin(try String(contentsOfFile: echoWAT, encoding: .utf8))
            let empty = try plugin(#"(module (memory 1) (func (export "_start")))"#)
            let input = Array(#"{"tool":"echo","arguments":{"text":"ping"}}"#.utf8)
            func perCall(_ body: () throws -> Void) rethrows -> Double {
                for _ in 0..<100 { try body() }
                let start = ContinuousClock.now
                for _ in 0..<calls { try body() }
                return (ContinuousClock.now - start).milliseconds * 1000 / Double(calls)
            }
            let inline = try perCall { _ = try echo.run(input: input) }
            let instantiate = try perCall { _ = try empty.run(input: []) }
            let reactor = try plugin(Self.reactorEcho, abi: "reactor")
            let live = try perCall {
                guard try reactor.run(input: input) == String(decoding: input, as: UTF8.self) else {
                    throw BenchError("the reactor echo answered wrongly")
                }
            }
            for _ in 0..<100 { _ = try await echo.call("echo", arguments: ["text": "ping"]) }
            let start = ContinuousClock.now
            for _ in 0..<calls { _ = try await echo.call("echo", arguments: ["text": "ping"]) }
            let threaded = (ContinuousClock.now - start).milliseconds * 1000 / Double(calls)
            print("Wasm plugin (command ABI, a fresh instance a call), \(calls) calls each")
            print(String(format: "echo call on the calling thread      %8.1f µs", inline))
            print(String(format: "echo call on its own thread (call)   %8.1f µs", threaded))
            print(String(format: "empty module: instantiate + _start   %8.1f µs", instantiate))
            print(String(format: "reactor echo call (live instance)    %8.1f µs", live))
        }
    }
}
