import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyProviders

#if canImport(Glibc)
import Glibc
#endif

/// `osprey-bench gateway`: what an agent step costs through the path users take: a real `osprey gateway` process,
/// its REST API, its agent loop with a tool call, its ledger at synchronous=FULL, against a scripted
/// OpenAI-compatible server in this process. Beside it, in the same run and against the same server, the Python
/// peers (`Benchmarks/peers/agent_step.py`: openai-agents, pydantic-ai, and a bare aiohttp loop) doing the same
/// conversation.
struct GatewayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Gateway CPU per LLM round trip via REST, time to first streamed byte, beside Python peers."
    )
    @Option(help: "Agent runs per repetition (each: a new session, one tool call, two LLM round trips).") var runs = 200
    @Option(help: "Repetitions (the median is reported).") var repetitions = 3
    @Option(help: "Port for the gateway.") var port = 18597
    @Option(help: "Python with the peers installed (scripts/install-deps --bench); empty to skip the peers.")
    var python = "python3"

    func run() async throws {
        try await report { try await AgentBench.withScriptedModel { try await measure(modelURL: $0) } }
    }

    func measure(modelURL: String) async throws {
        let home = try Self.benchHome(modelURL: modelURL, name: "gw")
        defer { try? FileManager.default.removeItem(at: home) }
        let gateway = try Self.startGateway(home: home, port: port)
        defer {
            gateway.terminate()
            gateway.waitUntilExit()
        }
        let pid = gateway.processIdentifier
        let api = try GatewayAPI(home: home, port: port)
        print("agent step through the gateway (\(runs) runs × \(repetitions), each run 2 LLM round trips, FULL)")
        for _ in 0..<20 { try await api.runAgent() }
        var cpu: [Double] = []
        var wall: [Double] = []
        for _ in 0..<repetitions {
            let cpuBefore = Self.processCPUSeconds(pid: pid)
            let start = ContinuousClock.now
            for _ in 0..<runs { try await api.runAgent() }
            let elapsed = (ContinuousClock.now - start).seconds
            cpu.append((Self.processCPUSeconds(pid: pid) - cpuBefore) * 1000 / Double(2 * runs))
            wall.append(elapsed * 1000 / Double(runs))
        }
        let osprey = median(cpu)
        let rss = StartupBench.residentMB(pid: pid)
        print(
            "osprey gateway".padding(toLength: 16, withPad: " ", startingAt: 0)
                + String(format: "%8.2f ms CPU/round trip  %8.2f ms/run  RSS %6.1f MB", osprey, median(wall), rss)
        )

        // Time to first streamed byte: the gateway relaying a one-round answer, beside the mock answered directly.
        var relayed: [Double] = []
        var direct: [Double] = []
        for _ in 0..<50 {
            relayed.append(try await api.firstStreamedByte() * 1000)
            direct.append(try await AgentBench.bareFirstByte(baseURL: modelURL) * 1000)
        }
        print(
            String(
                format: "time to first streamed byte: gateway %.2f ms, mock directly %.2f ms, added %.2f ms (medians)",
                median(relayed),
                median(direct),
                median(relayed) - median(direct)
            )
        )

        guard !python.isEmpty else { return }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("peers/agent_step.py").path
        for framework in ["openai-agents", "pydantic-ai", "bare"] {
            // In the gateway's workspace, so the peers' list_dir reads the directory the gateway's agent read (from
            // the caller's directory, a /tmp of 19,000 entries made their tool call cost 6 ms a round trip).
            let output = try Self.runPeer(
                python: python,
                script: script,
                arguments: [
                    "--framework", framework, "--base-url", modelURL, "--runs", String(runs),
                    "--repetitions", String(repetitions),
                ],
                directory: home.appendingPathComponent("workspace")
            )
            guard let line = output.split(separator: "\n").last, let json = try? JSONValue.parse(String(line)),
                let peer = json["cpu_ms_per_round_trip"]?.doubleValue
            else {
                print("\(framework): not run: \(output.suffix(300))")
                continue
            }
            let ratio = framework == "bare" ? osprey / peer : peer / osprey
            print(
                framework.padding(toLength: 16, withPad: " ", startingAt: 0)
                    + String(
                        format: "%8.2f ms CPU/round trip  %8.2f ms/run  RSS %6.1f MB  %@ %.1f×",
                        peer,
                        json["wall_ms_per_run"]?.doubleValue ?? 0,
                        json["rss_mb_after_warmup"]?.doubleValue ?? 0,
                        (framework == "bare" ? "osprey costs" : "osprey cheaper by") as NSString,
                        ratio
                    )
            )
        }
    }

    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// A fresh home whose agents use the scripted model at `modelURL`: `default` calls `list_dir` once and answers
    /// (model `bench-2`), `direct` answers at once (`bench-1`).
    static func benchHome(modelURL: String, name: String, gateway: String = "") throws -> URL {
        let home = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "osprey-bench-\(name)-\(getpid())"
        )
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        try """
        \(gateway.isEmpty ? "" : "[gateway]\n\(gateway)\n")
        [[providers]]
        name = "mock"
        kind = "openai"
        base_url = "\(modelURL)"
        models = ["bench-1", "bench-2"]

        [agents.default]
        model = "mock/bench-2"
        instructions = "You are a careful assistant."
        tools = ["list_dir"]

        [agents.direct]
        model = "mock/bench-1"
        tools = []
        """.write(to: home.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
        return home
    }

    /// `osprey gateway` built beside this binary, started on a fresh home; returns once /health answers 200.
    static func startGateway(home: URL, port: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try StartupBench.ospreyExecutable())
        process.arguments = ["gateway", "--home", home.path, "--port", String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(20)
        while !StartupBench.healthOK(port: port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                process.terminate()
                throw BenchError("the gateway did not answer /health on port \(port) within 20 s")
            }
            usleep(2000)
        }
        return process
    }

    /// User plus system CPU seconds of a process, from /proc/PID/stat (clock ticks).
    static func processCPUSeconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func runPeer(python: String, script: String, arguments: [String], directory: URL? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script] + arguments
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// The gateway's REST API as the benchmark drives it.
struct GatewayAPI {
    let baseURL: String
    let token: String
    let client: HTTPClient

    /// The gateway on loopback `port`, with the token `osprey gateway` wrote into `home`.
    init(home: URL, port: Int, client: HTTPClient = HTTPTransport.shared.client) throws {
        baseURL = "http://127.0.0.1:\(port)"
        token = try String(contentsOf: home.appendingPathComponent("token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        self.client = client
    }

    func call(
        _ method: NIOHTTP1.HTTPMethod,
        _ path: String,
        _ body: JSONValue? = nil,
        stream: Bool = false
    ) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if stream { request.headers.add(name: "Accept", value: "text/event-stream") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.canonicalJSON))
        }
        return request
    }

    func json(_ request: HTTPClientRequest) async throws -> JSONValue {
        let response = try await client.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 16 << 20)
        guard (200..<300).contains(response.status.code) else {
            throw BenchError("\(request.url): \(response.status.code) \(String(buffer: body))")
        }
        return try JSONValue.parse(body.readableBytesView)
    }

    /// A new session, one message: the model calls `list_dir`, gets its result, answers "done".
    func runAgent() async throws {
        let session = try await json(call(.POST, "/api/sessions", ["title": "bench"]))
        let id = session["id"]?.stringValue ?? ""
        let answer = try await json(call(.POST, "/api/sessions/\(id)/messages", ["content": "go"]))
        guard answer["response"] == "done", answer["turns"] == 2 else {
            throw BenchError("unexpected run result: \(answer.canonicalJSON.prefix(300))")
        }
    }

    /// The highest event seq so far.
    func lastSeq() async throws -> Int {
        var last = 0
        while true {
            let page = try await json(call(.GET, "/api/events?after=\(last)&limit=1000"))
            guard let next = page["next_after"]?.intValue, next > last else { return last }
            last = next
        }
    }

    /// Seconds from sending a message to the first byte of its streamed answer (a one-round agent).
    func firstStreamedByte() async throws -> Double {
        let session = try await json(call(.POST, "/api/sessions", ["title": "bench", "agent": "direct"]))
        let id = session["id"]?.stringValue ?? ""
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await client.execute(
            call(.POST, "/api/sessions/\(id)/messages", ["content": "go"], stream: true),
            timeout: .seconds(30)
        )
        var first: Duration?
        for try await chunk in response.body where chunk.readableBytes > 0 {
            first = first ?? clock.now - start
        }
        return (first ?? .zero).seconds
    }
}
