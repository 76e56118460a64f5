import ArgumentParser
import Foundation
import OspreyCore
import OspreyMCP
import OspreyTools

#if canImport(Glibc)
import Glibc
import OspreySandbox
#endif

/// `osprey-bench mcp`: sequential MCP round trips, in one run:
/// - against the official Python SDK's server (`MCPServer`, the test fixture), over stdio and Streamable HTTP, with
///   Osprey's client and with the official Python SDK's client (`Benchmarks/peers/mcp_echo.py`): the server is the
///   same, so the difference is the clients' (compare the client CPU per call above all);
/// - against Osprey's own server (a real `osprey gateway`'s `/mcp`, and `osprey mcp serve` bridging stdio to it)
///   with Osprey's client, beside the Python pair (its client and server) on the same kind of request.
struct MCPBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "MCP round trips over stdio and HTTP: Osprey's client and server beside the official Python SDK's."
    )
    @Option(help: "Calls per measure.") var calls = 2000
    @Option(help: "The MCP server script (run with --python).") var server = "Tests/Fixtures/mcp/fixture_server.py"
    @Option(help: "Python with PyPI mcp 2.x (scripts/install-deps --interop).") var python = "python3"
    @Option(help: "Port for the Python server over HTTP.") var pythonPort = 18611
    @Option(help: "Port for the Osprey gateway.") var port = 18612
    @Flag(help: "Only Osprey's server with Osprey's client (no Python).") var ospreyOnly = false

    struct Figures {
        var rate: Double
        var p50: Double
        var p99: Double
        var cpu: Double

        func line(_ label: String) -> String {
            label.padding(toLength: 44, withPad: " ", startingAt: 0)
                + String(
                    format: "%7.0f calls/s  p50 %.3f ms  p99 %.3f ms  client CPU %.3f ms/call",
                    rate,
                    p50,
                    p99,
                    cpu
                )
        }
    }

    func run() async throws {
        try await report {
            guard FileManager.default.fileExists(atPath: server) else {
                throw BenchError("no server script at \(server) (run from the repository root)")
            }
            if ospreyOnly {
                let none = Figures(rate: 0, p50: 0, p99: 0, cpu: 0)
                return try await AgentBench.withScriptedModel { modelURL in
                    try await ospreyServer(modelURL: modelURL, pythonPing: (stdio: none, http: none))
                }
            }
            print("MCP, \(calls) sequential calls per line; server: the Python SDK's MCPServer (\(server))")
            let environment = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "LANG"].contains($0.key) }
            let stdio = MCPClient(
                MCPClient.Configuration(name: "bench", command: python, arguments: [server], environment: environment)
            )
            _ = try await stdio.connect()
            let ospreyStdio = try await measure { index in
                let answer = try await stdio.callTool("echo", arguments: ["text": .string("ping \(index)")])
                guard answer == "ping \(index)" else { throw BenchError("echo answered '\(answer)'") }
            }
            await stdio.stop()
            let pythonStdio = try peer(["echo", "stdio", python, server])
            print(ospreyStdio.line("echo, stdio: osprey client"))
            print(pythonStdio.line("echo, stdio: python client"))
            compare(ospreyStdio, pythonStdio)

            let pythonServer = try Self.start([python, server, "http", String(pythonPort)], port: pythonPort)
            defer { Self.kill(pythonServer) }
            let url = "http://127.0.0.1:\(pythonPort)/mcp"
            let http = MCPClient(
                MCPClient.Configuration(
                    name: "bench",
                    url: URL(string: url)!,
                    egress: EgressPolicy(allowedHosts: ["127.0.0.1"], allowedPrivateAddresses: ["127.0.0.1"])
                )
            )
            _ = try await http.connect()
            let ospreyHTTP = try await measure { index in
                let answer = try await http.callTool("echo", arguments: ["text": .string("ping \(index)")])
                guard answer == "ping \(index)" else { throw BenchError("echo answered '\(answer)'") }
            }
            let ospreyHTTPPing = try await measure { _ in try await http.ping() }
            await http.stop()
            let pythonHTTP = try peer(["echo", "http", url])
            let pythonHTTPPing = try peer(["ping", "http", url])
            let pythonStdioPing = try peer(["ping", "stdio", python, server])
            print(ospreyHTTP.line("echo, http: osprey client"))
            print(pythonHTTP.line("echo, http: python client"))
            compare(ospreyHTTP, pythonHTTP)
            print(ospreyHTTPPing.line("ping, http: osprey client"))
            print(pythonHTTPPing.line("ping, http: python client"))

            try await AgentBench.withScriptedModel { modelURL in
                try await ospreyServer(modelURL: modelURL, pythonPing: (stdio: pythonStdioPing, http: pythonHTTPPing))
            }
        }
    }

    /// Osprey's own server: the gateway's `/mcp` over HTTP, and `osprey mcp serve` (stdio to the same door).
    func ospreyServer(modelURL: String, pythonPing: (stdio: Figures, http: Figures)) async throws {
        let home = try GatewayBench.benchHome(modelURL: modelURL, name: "mcp")
        defer { try? FileManager.default.removeItem(at: home) }
        let gateway = try GatewayBench.startGateway(home: home, port: port)
        defer {
            gateway.terminate()
            gateway.waitUntilExit()
        }
        let token = try String(contentsOf: home.appendingPathComponent("token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        print("server: Osprey (osprey gateway's /mcp; the pair's server CPU is the gateway's, per call)")
        let http = MCPClient(
            MCPClient.Configuration(
                name: "osprey",
                url: URL(string: "http://127.0.0.1:\(port)/mcp")!,
                headers: ["Authorization": "Bearer \(token)"],
                egress: EgressPolicy(allowedHosts: ["127.0.0.1"], allowedPrivateAddresses: ["127.0.0.1"])
            )
        )
        _ = try await http.connect()
        let pid = gateway.processIdentifier
        var before = GatewayBench.processCPUSeconds(pid: pid)
        let ping = try await measure { _ in try await http.ping() }
        let pingServer = (GatewayBench.processCPUSeconds(pid: pid) - before) * 1000 / Double(calls)
        before = GatewayBench.processCPUSeconds(pid: pid)
        let tool = try await measure { _ in _ = try await http.callTool("list_approvals", arguments: [:]) }
        let toolServer = (GatewayBench.processCPUSeconds(pid: pid) - before) * 1000 / Double(calls)
        await http.stop()
        print(ping.line("ping, http: osprey client + server") + String(format: "  server CPU %.3f ms", pingServer))
        if pythonPing.http.rate > 0 {
            print(pythonPing.http.line("ping, http: python client + server"))
            print(String(format: "osprey/python pair: %.2f× the calls/s", ping.rate / pythonPing.http.rate))
        }
        print(tool.line("list_approvals, http: osprey pair") + String(format: "  server CPU %.3f ms", toolServer))

        let stdio = MCPClient(
            MCPClient.Configuration(
                name: "osprey",
                command: try StartupBench.ospreyExecutable(),
                arguments: ["mcp", "serve", "--home", home.path],
                environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
            )
        )
        _ = try await stdio.connect()
        let stdioPing = try await measure { _ in try await stdio.ping() }
        let stdioTool = try await measure { _ in _ = try await stdio.callTool("list_approvals", arguments: [:]) }
        await stdio.stop()
        print(stdioPing.line("ping, stdio (osprey mcp serve): osprey pair"))
        if pythonPing.stdio.rate > 0 {
            print(pythonPing.stdio.line("ping, stdio: python client + server"))
            print(String(format: "osprey/python pair: %.2f× the calls/s", stdioPing.rate / pythonPing.stdio.rate))
        }
        print(stdioTool.line("list_approvals, stdio: osprey pair"))
    }

    func compare(_ osprey: Figures, _ python: Figures) {
        print(
            String(
                format: "  osprey/python: %.2f× the calls/s, %.1f× less client CPU per call",
                osprey.rate / python.rate,
                python.cpu / osprey.cpu
            )
        )
    }

    /// Times `calls` sequential calls of `body` after 50 to warm up; the CPU is this process's.
    func measure(_ body: (Int) async throws -> Void) async throws -> Figures {
        for index in 0..<50 { try await body(index) }
        var times: [Double] = []
        times.reserveCapacity(calls)
        let clock = ContinuousClock()
        let cpuBefore = AgentBench.cpuSeconds()
        let start = clock.now
        for index in 0..<calls {
            let began = clock.now
            try await body(index)
            times.append((clock.now - began).milliseconds)
        }
        let seconds = (clock.now - start).milliseconds / 1000
        let cpu = AgentBench.cpuSeconds() - cpuBefore
        times.sort()
        return Figures(
            rate: Double(calls) / seconds,
            p50: times[calls / 2],
            p99: times[calls * 99 / 100],
            cpu: cpu / Double(calls) * 1000
        )
    }

    /// The Python SDK's client on the same work (`Benchmarks/peers/mcp_echo.py`).
    func peer(_ arguments: [String]) throws -> Figures {
        let output = try GatewayBench.runPeer(
            python: python,
            script: "Benchmarks/peers/mcp_echo.py",
            arguments: [String(calls)] + arguments
        )
        guard let line = output.split(separator: "\n").last, let peer = try? JSONValue.parse(String(line)),
            let seconds = peer["seconds"]?.doubleValue, let cpu = peer["cpu_seconds"]?.doubleValue
        else {
            throw BenchError("the Python client failed (\(arguments.joined(separator: " "))): \(output.suffix(500))")
        }
        return Figures(
            rate: Double(calls) / seconds,
            p50: peer["p50_ms"]?.doubleValue ?? 0,
            p99: peer["p99_ms"]?.doubleValue ?? 0,
            cpu: cpu / Double(calls) * 1000
        )
    }

    /// A server process, once it accepts connections on `port`.
    static func start(_ command: [String], port: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while !IPv4Socket.accepts(port: port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                kill(process)
                throw BenchError("\(command.joined(separator: " ")) did not listen on \(port) within 30 s")
            }
            usleep(20_000)
        }
        return process
    }

    static func kill(_ process: Process) {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
