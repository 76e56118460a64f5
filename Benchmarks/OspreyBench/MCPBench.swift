import ArgumentParser
import Foundation
import OspreyCore
import OspreyMCP

/// `osprey-bench mcp`: sequential `echo` round trips over stdio to the same MCP server (the official Python SDK's
/// `MCPServer`), once with Osprey's client and once with the official Python SDK's client
/// (`Benchmarks/peers/mcp_echo.py`), in one run. The server is the same, so the difference is the clients':
/// compare the client CPU per call above all.
struct MCPBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "MCP echo round trips over stdio: Osprey's client beside the official Python SDK's, same server."
    )
    @Option(help: "Calls per client.") var calls = 2000
    @Option(help: "The MCP server script (run with --python).") var server = "Tests/Fixtures/mcp/fixture_server.py"
    @Option(help: "Python with PyPI mcp 2.x (scripts/install-deps --interop).") var python = "python3"

    func run() async throws {
        try await report {
            guard FileManager.default.fileExists(atPath: server) else {
                throw BenchError("no server script at \(server) (run from the repository root)")
            }
            let environment = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "LANG"].contains($0.key) }
            let client = MCPClient(
                MCPClient.Configuration(name: "bench", command: python, arguments: [server], environment: environment)
            )
            defer { Task { await client.stop() } }
            _ = try await client.connect()
            for _ in 0..<50 { _ = try await client.callTool("echo", arguments: ["text": "warm"]) }
            var times: [Double] = []
            times.reserveCapacity(calls)
            let clock = ContinuousClock()
            let cpuBefore = AgentBench.cpuSeconds()
            let start = clock.now
            for index in 0..<calls {
                let began = clock.now
                let answer = try await client.callTool("echo", arguments: ["text": .string("ping \(index)")])
                times.append((clock.now - began).milliseconds)
                guard answer == "ping \(index)" else { throw BenchError("echo answered '\(answer)'") }
            }
            let seconds = (clock.now - start).milliseconds / 1000
            let cpu = AgentBench.cpuSeconds() - cpuBefore
            times.sort()
            print("MCP echo over stdio, \(calls) sequential calls, server: \(server) (\(client.serverInfo))")
            let osprey = (rate: Double(calls) / seconds, cpu: cpu / Double(calls) * 1000)
            print(
                String(
                    format: "osprey client   %7.0f calls/s  p50 %.3f ms  p99 %.3f ms  client CPU %.3f ms/call",
                    osprey.rate,
                    times[calls / 2],
                    times[calls * 99 / 100],
                    osprey.cpu
                )
            )
            let output = try GatewayBench.runPeer(
                python: python,
                script: "Benchmarks/peers/mcp_echo.py",
                arguments: [String(calls), python, server]
            )
            guard let line = output.split(separator: "\n").last, let peer = try? JSONValue.parse(String(line)),
                let peerSeconds = peer["seconds"]?.doubleValue, let peerCPU = peer["cpu_seconds"]?.doubleValue
            else { throw BenchError("the Python client failed: \(output.suffix(500))") }
            let python = (rate: Double(calls) / peerSeconds, cpu: peerCPU / Double(calls) * 1000)
            print(
                String(
                    format: "python client   %7.0f calls/s  p50 %.3f ms  p99 %.3f ms  client CPU %.3f ms/call",
                    python.rate,
                    peer["p50_ms"]?.doubleValue ?? 0,
                    peer["p99_ms"]?.doubleValue ?? 0,
                    python.cpu
                )
            )
            print(
                String(
                    format: "osprey/python: %.2f× the calls/s, %.1f× less client CPU per call",
                    osprey.rate / python.rate,
                    python.cpu / osprey.cpu
                )
            )
        }
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
