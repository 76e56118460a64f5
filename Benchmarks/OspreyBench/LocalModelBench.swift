import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyProviders
import OspreyTools

#if canImport(Glibc)
import Glibc
#endif

/// `osprey-bench local-model`: the first answer of a fresh gateway whose only model is the embedded one, the model
/// server's start included, as a user without an API key meets it, then the first answer of a second session asked
/// `--pause` seconds later (the server warm, its opening evaluated again after the first run), then the first answer
/// of the gateway restarted on the same home (a new model server, which loads the opening the first one kept on
/// disk instead of evaluating it), its start included. Beside it, in the same
/// run: the same server program started by hand and asked the same question with no system prompt and no tools, the
/// floor under it.
struct LocalModelBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local-model",
        abstract: "Seconds from `osprey gateway` to the local model's first answer, beside the bare model server."
    )
    @Option(help: "Repetitions, each with a fresh gateway and a fresh model server (the median is reported).")
    var repetitions = 3
    @Option(help: "Port for the gateway.") var port = 18595
    @Option(help: "Port for the model server.") var modelPort = 18594
    @Option(help: "The question.") var question = "Say hello in one short sentence."
    @Option(help: "Python with llama-cpp-python[server] (scripts/install-deps --local-model).")
    var python = "python3"
    @Option(help: "Also run the gateway with this [local_model] chat_format, e.g. chatml-function-calling (A/B).")
    var compare: String?
    @Option(help: "Seconds between the first answer and the question of a second session.")
    var pause = 12.0
    @Option(
        help:
            "The default agent's tools: none, read-only (an agent table without tools), files (a new home's with no API key) or all (every built-in tool)."
    )
    var tools = "files"
    @Flag(help: "Instead: the first action the model takes on 28 questions, with the file tools and with all.")
    var choices = false

    func run() async throws {
        guard ["none", "read-only", "files", "all"].contains(tools) else {
            throw ValidationError("--tools must be none, read-only, files or all")
        }
        if choices { return try await measureChoices() }
        try await report {
            var gateway: [Timeline] = []
            var bare: [Timeline] = []
            var compared: [Timeline] = []
            for repetition in 1...repetitions {
                try await Self.waitUntilFree(port: modelPort)
                let measured = try await throughGateway()
                print("gateway, run \(repetition): \(measured)")
                gateway.append(measured)
                if let compare {
                    try await Self.waitUntilFree(port: modelPort)
                    let other = try await throughGateway(chatFormat: compare)
                    print("gateway with chat_format \(compare), run \(repetition): \(other)")
                    compared.append(other)
                }
                try await Self.waitUntilFree(port: modelPort)
                let floor = try await bareServer(model: measured.model)
                print("bare server, run \(repetition): \(floor)")
                bare.append(floor)
            }
            let osprey = gateway.map(\.answered).sorted()[repetitions / 2]
            let next = gateway.map(\.nextAnswered).sorted()[repetitions / 2]
            let restarted = gateway.map(\.restartAnswered).sorted()[repetitions / 2]
            let primitive = bare.map(\.answered).sorted()[repetitions / 2]
            print(
                String(
                    format:
                        "first answer from a cold start (medians): osprey gateway %.2f s (model server ready at %.2f s), bare llama.cpp server %.2f s (ready at %.2f s); ratio %.2f",
                    osprey,
                    gateway.map(\.serverReady).sorted()[repetitions / 2],
                    primitive,
                    bare.map(\.serverReady).sorted()[repetitions / 2],
                    osprey / primitive
                )
            )
            print(String(format: "a second session's first answer, %.0f s later (median): %.2f s", pause, next))
            print(
                String(
                    format:
                        "the first answer of the gateway restarted on the same home, its start included (median): %.2f s",
                    restarted
                )
            )
            if let compare {
                print(
                    String(
                        format: "  with chat_format %@ in the same run: %.2f s (median)",
                        compare as NSString,
                        compared.map(\.answered).sorted()[repetitions / 2]
                    )
                )
            }
        }
    }

    /// Seconds from the start of the process to each milestone.
    struct Timeline: CustomStringConvertible {
        var serverReady = 0.0
        var firstByte = 0.0
        var answered = 0.0
        /// Seconds a second session's first message took, asked `pause` seconds after the first answer.
        var nextAnswered = 0.0
        /// Seconds from the restart of the gateway on the same home to its first answer.
        var restartAnswered = 0.0
        var answer = ""
        /// The model file the server ran.
        var model = ""

        var description: String {
            String(
                format: "model server ready %.2f s, first byte %.2f s, answer %.2f s%@: %@",
                serverReady,
                firstByte,
                answered,
                (nextAnswered > 0
                    ? String(format: ", next session's %.2f s, after a restart %.2f s", nextAnswered, restartAnswered)
                    : "") as NSString,
                String(answer.prefix(80)).debugDescription as NSString
            )
        }
    }

    /// A fresh home with no provider: the gateway serves the local model, launched when the first message needs it.
    func throughGateway(chatFormat: String? = nil) async throws -> Timeline {
        let home = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("osprey-bench-local-\(getpid())")
        try? FileManager.default.removeItem(at: home)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let format = chatFormat.map { "chat_format = \"\($0)\"\n" } ?? ""
        let granted = tools == "files" ? OspreyConfig.Agent.localModelTools : OspreyConfig.Agent.defaultAgentTools
        let grant =
            switch tools {
            case "none": "\n[agents.default]\ntools = []\n"
            case "read-only": ""
            default: "\n[agents.default]\n\(OspreyConfig.grant(granted))\n"
            }
        try "[local_model]\nport = \(modelPort)\n\(format)\(grant)".write(
            to: home.appendingPathComponent("config.toml"),
            atomically: true,
            encoding: .utf8
        )
        let clock = ContinuousClock()
        let start = clock.now
        var gateway = try GatewayBench.startGateway(home: home, port: port)
        defer {
            gateway.terminate()
            gateway.waitUntilExit()
        }
        let watcher = Task { try await Self.waitForModels(port: modelPort, clock: clock, since: start) }
        defer { watcher.cancel() }
        let api = try GatewayAPI(home: home, port: port)
        var timeline = Timeline()
        let text = try await ask(api, title: "first answer") {
            if timeline.firstByte == 0 { timeline.firstByte = (clock.now - start).seconds }
        }
        timeline.answered = (clock.now - start).seconds
        timeline.serverReady = try await watcher.value
        timeline.model = try Self.servedModel(home: home)
        // The stream's `done` event carries the answer.
        for frame in text.components(separatedBy: "\n\n") where frame.hasPrefix("event: done") {
            if let data = frame.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }),
                let json = try? JSONValue.parse(String(data.dropFirst(6)))
            {
                timeline.answer = json["response"]?.stringValue ?? ""
            }
        }
        guard !timeline.answer.isEmpty else {
            throw BenchError("the gateway gave no answer: \(text.suffix(400))")
        }
        try await Task.sleep(for: .seconds(pause))
        let asked = clock.now
        _ = try await ask(api, title: "next answer")
        timeline.nextAnswered = (clock.now - asked).seconds
        // The gateway stopped and started again on the same home: a new model server.
        gateway.terminate()
        gateway.waitUntilExit()
        try await Self.waitUntilFree(port: modelPort)
        let restart = clock.now
        gateway = try GatewayBench.startGateway(home: home, port: port)
        _ = try await ask(api, title: "after a restart")
        timeline.restartAnswered = (clock.now - restart).seconds
        return timeline
    }

    /// Asks the question in a new session titled `title` and reads the streamed answer to its end, calling `heard`
    /// at each piece; returns the stream's text.
    func ask(_ api: GatewayAPI, title: String, heard: () -> Void = {}) async throws -> String {
        let session = try await api.json(api.call(.POST, "/api/sessions", ["title": .string(title)]))
        let response = try await api.client.execute(
            api.call(
                .POST,
                "/api/sessions/\(session["id"]?.stringValue ?? "")/messages",
                ["content": .string(question)],
                stream: true
            ),
            timeout: .seconds(300)
        )
        var text = ""
        for try await chunk in response.body where chunk.readableBytes > 0 {
            heard()
            text += String(buffer: chunk)
        }
        return text
    }

    /// The same server program on the same model, started by hand, asked the question alone.
    func bareServer(model: String) async throws -> Timeline {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            python, "-m", "llama_cpp.server", "--model", model, "--port", String(modelPort), "--host", "127.0.0.1",
            "--chat_format", "chatml-function-calling", "--n_ctx", "8192",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let clock = ContinuousClock()
        let start = clock.now
        try process.run()
        defer { Self.stop(process) }
        var timeline = Timeline()
        timeline.serverReady = try await Self.waitForModels(port: modelPort, clock: clock, since: start)
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(modelPort)/v1/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body: JSONValue = [
            "model": "smollm2", "stream": true, "messages": [["role": "user", "content": .string(question)]],
        ]
        request.body = .bytes(ByteBuffer(string: body.canonicalJSON))
        let response = try await HTTPTransport.shared.client.execute(request, timeout: .seconds(300))
        var text = ""
        for try await chunk in response.body where chunk.readableBytes > 0 {
            if timeline.firstByte == 0 { timeline.firstByte = (clock.now - start).seconds }
            text += String(buffer: chunk)
        }
        timeline.answered = (clock.now - start).seconds
        for line in text.split(separator: "\n") where line.hasPrefix("data: {") {
            let choice = (try? JSONValue.parse(String(line.dropFirst(6))))?["choices"]?.arrayValue?.first
            timeline.answer += choice?["delta"]?["content"]?.stringValue ?? ""
        }
        guard !timeline.answer.isEmpty else { throw BenchError("the bare server gave no answer: \(text.suffix(400))") }
        return timeline
    }

    /// SIGTERM, then SIGKILL if the server still runs after 5 s (uvicorn waits for open connections).
    static func stop(_ process: Process) {
        process.terminate()
        for _ in 0..<100 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Waits until nothing answers on `port`: the last phase's model server is gone, so the next start is timed on
    /// the port the benchmark watches.
    static func waitUntilFree(port: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !nothingListens(on: port) {
            guard ContinuousClock.now < deadline else { throw BenchError("port \(port) is still in use after 30 s") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// True when a TCP connect to the loopback `port` is refused.
    static func nothingListens(on port: Int) -> Bool {
        IPv4Socket.open(host: "127.0.0.1", port: port) { descriptor, address, length in
            connect(descriptor, address, length) != 0
        } ?? false
    }

    /// Seconds from `since` until the model server on `port` answers `/v1/models`.
    static func waitForModels(port: Int, clock: ContinuousClock, since: ContinuousClock.Instant) async throws -> Double
    {
        let deadline = since + .seconds(300)
        while clock.now < deadline {
            let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/models")
            if let response = try? await HTTPTransport.shared.client.execute(request, timeout: .seconds(2)) {
                _ = try? await response.body.collect(upTo: 1 << 20)
                if response.status.code == 200 { return (clock.now - since).seconds }
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw BenchError("the model server on port \(port) did not answer within 300 s")
    }

    /// The model file the gateway's server runs: the `--model` argument of the process its pid file names.
    static func servedModel(home: URL) throws -> String {
        let pidFile = home.appendingPathComponent("logs/local-model.pid")
        guard
            let pid = try? String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            let command = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)
        else { throw BenchError("the gateway's model server is not running (no \(pidFile.path))") }
        let arguments = command.split(separator: "\u{0}").map(String.init)
        guard let flag = arguments.firstIndex(of: "--model"), flag + 1 < arguments.count else {
            throw BenchError("the gateway's model server has no --model argument")
        }
        return arguments[flag + 1]
    }
}
