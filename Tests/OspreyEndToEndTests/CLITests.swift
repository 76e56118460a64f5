import Foundation
import GRDB
import OspreyCore
import OspreyTesting
import Testing

/// The `osprey` executable against a real gateway process on a temp home.
@Suite(.serialized)
struct CLITests {
    let osprey: OspreyExecutable
    init() throws { osprey = try OspreyExecutable.locate() }

    /// An OpenAI-compatible server that always answers "Hello from the mock." (streamed, with usage).
    static let mockModel = ScriptedHTTPServer(responses: [], fallback: hello)

    /// A mock model server of the caller's own: suites that run beside each other must not share one, since each
    /// `run` starts and stops the server it is called on.
    static func ownMockModel() -> ScriptedHTTPServer { ScriptedHTTPServer(responses: [], fallback: hello) }

    /// A streamed "Hello from the mock." with usage.
    static let hello = ScriptedHTTPServer.Response.sse([
        #"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello from"}}]}"#,
        #"{"choices":[{"index":0,"delta":{"content":" the mock."},"finish_reason":"stop"}]}"#,
        #"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":4}}"#, "[DONE]",
    ])

    /// Writes a config whose default agent uses the mock model server.
    static func configure(_ home: TemporaryDirectory, server: ScriptedHTTPServer) throws {
        let config = """
            [[providers]]
            name = "mock"
            kind = "openai"
            base_url = "\(server.baseURL)/v1"
            models = ["test"]
            pricing = { "test" = { input = 1.0, output = 2.0 } }

            [agents.default]
            model = "mock/test"
            tools = ["*"]
            """
        try config.write(to: home.url.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
    }

    @Test func aFreshHomeIsCreatedWithPrivateFilesAndTheCLIDrivesTheGateway() async throws {
        try await Self.mockModel.run { server in try await drive(server) }
    }

    func drive(_ server: ScriptedHTTPServer) async throws {
        let home = try TemporaryDirectory(prefix: "osprey-cli")
        defer { home.remove() }
        let port = freeLoopbackPort()
        try Self.configure(home, server: server)
        let gateway = try await osprey.startGateway(home: home.path, port: port)
        defer { gateway.kill() }
        // The first start created the home.
        for file in ["token", "secrets/ledger.key"] {
            #expect(Home.mode(of: home.url.appendingPathComponent(file)) == 0o600, "\(file)")
        }
        #expect(Home.mode(of: home.url) == 0o700)
        for directory in ["workspace", "memory", "logs"] {
            #expect(FileManager.default.fileExists(atPath: home.url.appendingPathComponent(directory).path))
        }
        let args = ["--home", home.path]

        let status = try await osprey.run(["status"] + args)
        #expect(status.status == 0)
        #expect(status.stdout.contains("running"))

        let created = try await osprey.run(["sessions", "create", "--title", "CLI demo"] + args)
        #expect(created.status == 0, "\(created.stderr)")
        let id = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("ses_"))

        let sent = try await osprey.run(["sessions", "send", id, "hello from the CLI"] + args)
        #expect(sent.status == 0)
        #expect(sent.stdout == "Hello from the mock.\n")
        let listed = try await osprey.run(["sessions", "list"] + args)
        #expect(listed.stdout.contains(id) && listed.stdout.contains("2 messages"))
        let shown = try await osprey.run(["sessions", "show", id] + args)
        #expect(shown.stdout.contains("[user] hello from the CLI"))
        #expect(shown.stdout.contains("[assistant] Hello from the mock."))

        let events = try await osprey.run(["events", "--json"] + args)
        let types = events.stdout.split(separator: "\n").compactMap {
            try? JSONValue.parse(String($0))["type"]?.stringValue
        }
        #expect(types == ["gateway.started", "session.created", "message.user", "llm.call", "message.assistant"])
        let filtered = try await osprey.run(["events", "--type", "session.*"] + args)
        #expect(filtered.stdout.split(separator: "\n").count == 1)
        // A '&' in a filter is part of its value, not a parameter of its own (which would have filtered on
        // 'session.*').
        let odd = try await osprey.run(["events", "--type", "session.*&type=x"] + args)
        #expect(odd.status == 0 && odd.stdout.isEmpty, "\(odd.stdout)")
        let two = try await osprey.run(["events", "--limit", "2", "--json"] + args)
        #expect(two.stdout.split(separator: "\n").count == 2)
        let none = try await osprey.run(["events", "--limit", "0"] + args)
        #expect(none.status == 64 && none.stderr.contains("--limit must be 1 to 1000"), "\(none.stderr)")

        let token = try await osprey.run(["tokens", "create", "--role", "viewer", "--name", "dash"] + args)
        #expect(token.stdout.hasPrefix("osp_"))
        #expect(try await osprey.run(["tokens", "list"] + args).stdout.contains("dash"))

        let verify = try await osprey.run(["audit", "verify"] + args)
        #expect(verify.status == 0)
        #expect(verify.stdout.hasPrefix("ok: 6 events"))

        let doctor = try await osprey.run(["doctor"] + args)
        #expect(doctor.status == 0, "\(doctor.stdout)")
        #expect(doctor.stdout.contains("gateway running on this home"))
        #expect(doctor.stdout.contains("ledger chain verified"))

        #expect(try await osprey.run(["sessions", "delete", id] + args).status == 0)
        let missing = try await osprey.run(["sessions", "show", id] + args)
        #expect(missing.status == 1)
        #expect(missing.stderr == "osprey: No session with id '\(id)' (HTTP 404)\n")

        // SIGTERM stops it gracefully and the ledger says so.
        #expect(await gateway.stop() == 0)
        let export = home.url.appendingPathComponent("export.jsonl")
        #expect(try await osprey.run(["audit", "export", "-o", export.path] + args).status == 0)
        let lines = try String(contentsOf: export, encoding: .utf8).split(separator: "\n")
        #expect(try JSONValue.parse(String(lines.last!))["type"] == "gateway.stopped")
        let independent = try await LedgerVerifier.run(export)
        #expect(independent.status == 0, "\(independent.output)")

        let down = try await osprey.run(["status"] + args)
        #expect(down.status == 1)
        #expect(down.stderr.contains("the gateway is not running on"))
        #expect(down.stderr.split(separator: "\n").count == 1)
    }

    @Test func askStreamsTheAnswerAndPrintsOneJSONObjectWithJSON() async throws {
        try await Self.mockModel.run { server in
            let home = try TemporaryDirectory(prefix: "osprey-cli")
            defer { home.remove() }
            try Self.configure(home, server: server)
            let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            defer { gateway.kill() }
            let plain = try await osprey.run(["ask", "--home", home.path, "Say", "hello"])
            #expect(plain.status == 0)
            #expect(plain.stdout == "Hello from the mock.\n")
            let json = try await osprey.run(["ask", "--json", "--home", home.path, "Say hello"])
            #expect(json.status == 0)
            let result = try JSONValue.parse(json.stdout)
            #expect(result["response"] == "Hello from the mock.")
            #expect(result["tokens"] == 16)
            #expect(result["exit_code"] == 0)
            #expect(result["cost_usd"]?.doubleValue == 0.00002)
            #expect(result["session_id"]?.stringValue?.hasPrefix("ses_") == true)
            #expect(result["duration_ms"]?.intValue != nil)
            // The request reached the model in OpenAI's wire format.
            let request = try JSONValue.parse(try #require(server.requests.last).body)
            #expect(request["model"] == "test")
            #expect(request["stream"] == true)
            #expect(request["messages"]?.arrayValue?.last?["content"] == "Say hello")
            let models = try await osprey.run(["models", "--home", home.path])
            #expect(models.stdout.contains("mock  openai  breaker closed  models: test"))
            #expect(models.stdout.contains("agent default: mock/test"))
            let empty = try await osprey.run(["ask", "--home", home.path])
            #expect(empty.status == 2)
            // chat keeps one session across lines and quits on /exit.
            let chat = try await osprey.run(["chat", "--home", home.path], input: "first\nsecond\n/exit\n")
            #expect(chat.status == 0)
            #expect(chat.stdout.components(separatedBy: "Hello from the mock.").count == 3)
            let chatSession = try #require(
                chat.stderr.split(separator: "\n").last?.split(separator: " ").last.map(String.init)
            )
            let shown = try await osprey.run(["sessions", "show", chatSession, "--home", home.path])
            #expect(shown.stdout.contains("[user] first") && shown.stdout.contains("[user] second"))
        }
    }

    @Test func oneGatewayPerHomeAndLoopbackUnlessAllowed() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-cli")
        defer { home.remove() }
        let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
        defer { gateway.kill() }
        let second = try await osprey.run(["gateway", "--home", home.path, "--port", String(freeLoopbackPort())])
        #expect(second.status == 2)
        #expect(second.stderr.contains("another gateway is already running on this home"))

        let other = try TemporaryDirectory(prefix: "osprey-cli")
        defer { other.remove() }
        let remote = try await osprey.run([
            "gateway", "--home", other.path, "--host", "0.0.0.0", "--port", String(freeLoopbackPort()),
        ])
        #expect(remote.status == 2)
        #expect(remote.stderr.contains("refusing to listen on non-loopback host 0.0.0.0"))
    }

    @Test func eventsFollowStreamsNewEvents() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-cli")
        defer { home.remove() }
        let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
        defer { gateway.kill() }
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: osprey.path)
        follower.arguments = ["events", "--follow", "--type", "session.*", "--home", home.path]
        let pipe = Pipe()
        follower.standardOutput = pipe
        try follower.run()
        defer { if follower.isRunning { follower.terminate() } }
        try await Task.sleep(for: .milliseconds(300))
        _ = try await osprey.run(["sessions", "create", "--home", home.path])
        var output = ""
        try await TestRuns.waitUntil(timeout: .seconds(20)) {
            output += pipe.fileHandleForReading.readAvailableNow()
            return output.contains("session.created")
        }
        #expect(output.contains("session.created"))
        #expect(!output.contains("gateway.started"))
    }

    @Test func aTamperedLedgerFailsAuditVerifyAndDoctor() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-cli")
        defer { home.remove() }
        let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
        for _ in 0..<3 { _ = try await osprey.run(["sessions", "create", "--home", home.path]) }
        await gateway.stop()
        // Someone with file access edits event 2.
        let queue = try DatabaseQueue(path: home.url.appendingPathComponent("osprey.db").path)
        try await queue.write { db in
            try db.execute(sql: "DROP TRIGGER events_are_immutable")
            try db.execute(sql: "UPDATE events SET actor = 'user:someone-else' WHERE seq = 2")
        }
        let verify = try await osprey.run(["audit", "verify", "--home", home.path])
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("BROKEN at seq 2"))
        let doctor = try await osprey.run(["doctor", "--home", home.path])
        #expect(doctor.status == 1)
        #expect(doctor.stdout.contains("FAIL  ledger broken at seq 2"))
    }

    @Test func aFirstStartThatCannotWriteItsFilesLeavesNoPartialOne() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-cli")
        defer { home.remove() }
        // Given a file size limit below config.toml's size (SIGXFSZ ignored, so the write fails with EFBIG; were the
        // file to fit, the gateway would start and run until the command's time limit fails the test)
        let initial = OspreyConfig.initialText(environment: ProcessInfo.processInfo.environment)
        try #require(initial.utf8.count > 2048)
        let limited = try await runProgram(
            [
                "bash", "-c", "trap '' XFSZ; ulimit -f 2; exec \"$0\" gateway --home \"$1\" --port \"$2\"",
                osprey.path, home.path, String(freeLoopbackPort()),
            ],
            timeout: .seconds(60)
        )
        let said = limited.stderr
        // When the gateway starts there, it fails saying why and leaves no half-written config.toml behind
        #expect(limited.status != 0)
        #expect(said.contains("cannot write \(home.path)/config.toml: File too large"), "\(said)")
        #expect(!FileManager.default.fileExists(atPath: home.url.appendingPathComponent("config.toml").path))
        // And the next start, without the limit, writes the whole file and runs
        let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
        defer { gateway.kill() }
        let config = try String(contentsOf: home.url.appendingPathComponent("config.toml"), encoding: .utf8)
        #expect(config == initial)
    }

    @Test func aFirstStartKilledBeforeItsFileIsSyncedLeavesNoFileBehind() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-cli")
        defer { home.remove() }
        let config = home.url.appendingPathComponent("config.toml").path
        // Given a first start killed (SIGKILL, by strace) at its first fsync: config.toml's text is written, not yet
        // durable, the moment a power cut would leave a named file empty or partial
        let killed = try await runProgram(
            [
                "strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync", "-e", "inject=fsync:signal=KILL:when=1",
                osprey.path, "gateway", "--home", home.path, "--port", String(freeLoopbackPort()),
            ],
            timeout: .seconds(60)
        )
        #expect(killed.status != 0, "\(killed.stderr)")
        // Then there is no config.toml: a name appears only once its file is whole and synced
        #expect(!FileManager.default.fileExists(atPath: config))
        // And the next start writes the whole file and runs
        let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
        defer { gateway.kill() }
        #expect(
            try String(contentsOfFile: config, encoding: .utf8)
                == OspreyConfig.initialText(environment: ProcessInfo.processInfo.environment)
        )
    }

    @Test func aHomeOnAFilesystemWithoutUnnamedFilesIsStillMadeWhole() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-cli")
        defer { home.remove() }
        // Given a home directory where an unnamed file cannot be made (the first open of the directory itself, for
        // config.toml's unnamed file, fails with EOPNOTSUPP, as on a filesystem without O_TMPFILE), made by a
        // command that sets up a home and exits
        _ = try await runProgram(
            [
                "strace", "-f", "-qq", "-o", "/dev/null", "-P", home.path, "-e", "trace=openat",
                "-e", "inject=openat:error=EOPNOTSUPP:when=1", osprey.path, "secrets", "set", "X", "--home", home.path,
            ],
            timeout: .seconds(60)
        )
        // Then config.toml is written under its name, whole and private, and the other files as usual
        let config = home.url.appendingPathComponent("config.toml")
        #expect(
            try String(contentsOf: config, encoding: .utf8)
                == OspreyConfig.initialText(environment: ProcessInfo.processInfo.environment)
        )
        #expect(Home.mode(of: config) == 0o600)
        #expect(try String(contentsOf: home.url.appendingPathComponent("token"), encoding: .utf8).hasPrefix("osp_"))
    }

    @Test func aSecretThatCannotBeStoredFailsSayingSoAndKeepsTheOnesBefore() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-cli")
        defer { home.remove() }
        #expect(try await osprey.run(["secrets", "set", "A", "--home", home.path], input: "one").status == 0)
        // Given the rename that would put the new table of secrets in place refused (EIO, by strace)
        let refused = try await runProgram(
            [
                "strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=rename,renameat,renameat2",
                "-e", "inject=rename,renameat,renameat2:error=EIO", osprey.path, "secrets", "set", "B",
                "--home", home.path,
            ],
            input: "two",
            timeout: .seconds(60)
        )
        // Then the command fails saying why (it said nothing and exited 0, the secret not stored)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("cannot replace \(home.path)/secrets/secrets.json"), "\(refused.stderr)")
        // And the secret before is kept, and nothing is left beside the table
        #expect(try await osprey.run(["secrets", "list", "--home", home.path]).stdout == "A\n")
        let left = try FileManager.default.contentsOfDirectory(atPath: home.url.appendingPathComponent("secrets").path)
        #expect(!left.contains { $0.contains(".osprey-") }, "\(left)")
    }

    @Test func aSecretWriteKilledBeforeItIsSyncedLeavesTheTableBefore() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-cli")
        defer { home.remove() }
        #expect(try await osprey.run(["secrets", "set", "A", "--home", home.path], input: "one").status == 0)
        let table = home.url.appendingPathComponent("secrets/secrets.json")
        let before = try Data(contentsOf: table)
        // Given `secrets set` killed (SIGKILL, by strace) at its first fsync: the new table written, not yet durable
        let killed = try await runProgram(
            [
                "strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync", "-e", "inject=fsync:signal=KILL:when=1",
                osprey.path, "secrets", "set", "B", "--home", home.path,
            ],
            input: "two",
            timeout: .seconds(60)
        )
        #expect(killed.status != 0, "\(killed.stderr)")
        // Then the table is the one before, byte for byte, and no file of the killed write is left
        #expect(try Data(contentsOf: table) == before)
        let left = try FileManager.default.contentsOfDirectory(atPath: table.deletingLastPathComponent().path)
        #expect(!left.contains { $0.contains(".osprey-") || $0.hasSuffix(".tmp") }, "\(left)")
    }

    static let initialized = JSONValue.object([
        "jsonrpc": "2.0", "id": 1,
        "result": [
            "protocolVersion": "2025-06-18", "capabilities": [:], "serverInfo": ["name": "deaf", "version": "1"],
        ],
    ]).canonicalJSON

    /// A gateway in `home` with one MCP server, `command -c script`, and a model that is never reached; its log.
    func gateway(
        in home: TemporaryDirectory,
        mcpServer name: String,
        command: String,
        script: String
    ) async throws -> (GatewayProcess, URL) {
        try """
        [[providers]]
        name = "mock"
        kind = "openai"
        base_url = "http://127.0.0.1:9/v1"
        models = ["test"]

        [[mcp_servers]]
        name = "\(name)"
        command = "\(command)"
        args = ["-c", "\(script)"]
        """.write(to: home.url.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
        let log = home.url.appendingPathComponent("gateway.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let gateway = try await osprey.startGateway(
            home: home.path,
            port: freeLoopbackPort(),
            log: try FileHandle(forWritingTo: log)
        )
        return (gateway, log)
    }

    @Test func aConfiguredMCPServerThatStopsReadingDoesNotTakeTheGatewayDown() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-cli")
        defer { home.remove() }
        // Given an MCP server that answers `initialize`, having closed its input, and lingers: the gateway's next
        // message meets a pipe with no reader (SIGPIPE's default action ended the gateway there; a server that exits
        // at once did so now and then)
        let initialized = Self.initialized.replacingOccurrences(of: "\"", with: "\\\"")
        // When the gateway starts
        let (gateway, log) = try await gateway(
            in: home,
            mcpServer: "deaf",
            command: "/bin/sh",
            script: "read line; exec 0<&-; echo '\(initialized)'; sleep 30"
        )
        defer { gateway.kill() }
        // Then it serves, and says why the server offers nothing (the servers connect in the background)
        try await TaskRecoveryTests.wait("the gateway said why the server offers nothing", seconds: 60) {
            try String(contentsOf: log, encoding: .utf8).contains("MCP server offers no tools")
        }
        #expect(try String(contentsOf: log, encoding: .utf8).contains("MCP server offers no tools"))
        #expect(gateway.isRunning)
        #expect(try await runProgram(["curl", "-sf", gateway.baseURL + "/health"], timeout: .seconds(30)).status == 0)
    }

    @Test func aHangupStopsTheGatewayGracefullyWithItsMCPServers() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-cli")
        defer { home.remove() }
        // Given a gateway with an MCP server that ignores its input (so only the gateway's stop ends it)
        let marker = "osprey-hup-\(UInt32.random(in: .min ... .max))"
        let (gateway, log) = try await gateway(
            in: home,
            mcpServer: "lingering",
            command: "/bin/bash",
            script: "exec -a \(marker) sleep 600"
        )
        defer { gateway.kill() }
        func lingering() async throws -> Bool {
            try await runProgram(["pgrep", "-f", marker], timeout: .seconds(30)).status == 0
        }
        try await TaskRecoveryTests.wait("the MCP server runs") { try await lingering() }
        // When it gets SIGHUP (its terminal closed), it stops as on SIGTERM: exit 0, its server stopped with it
        // (SIGHUP's default action ended it on the spot, the server left running)
        #expect(await gateway.stop(signal: SIGHUP) == 0)
        try await TaskRecoveryTests.wait("the MCP server has stopped") { try await !lingering() }
        #expect(try String(contentsOf: log, encoding: .utf8).contains("MCP servers stopped"))
    }

    @Test func usageAndConfigurationErrorsExitWithTwo() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-cli")
        defer { home.remove() }
        try home.url.writeFile("config.toml", "[gateway]\nprot = 1\n")
        let bad = try await osprey.run(["gateway", "--home", home.path])
        #expect(bad.status == 2)
        #expect(bad.stderr == "osprey: config.toml: unknown key 'gateway.prot'\n")
        let unknown = try await osprey.run(["sessions", "frobnicate"])
        #expect(unknown.status != 0)
    }

    @Test func aWitnessFileOutsideTheHomeBacksTheLedgerAndScopedTokensComeFromTheCLI() async throws {
        try await Self.mockModel.run { server in
            let home = try TemporaryDirectory(prefix: "osprey-cli")
            let outside = try TemporaryDirectory(prefix: "osprey-witness")
            defer {
                home.remove()
                outside.remove()
            }
            let witness = outside.url.appendingPathComponent("heads.log").path
            try Self.configure(home, server: server)
            let config = home.url.appendingPathComponent("config.toml")
            try (String(contentsOf: config, encoding: .utf8) + "\n[ledger]\nwitness = \"\(witness)\"\n")
                .write(to: config, atomically: true, encoding: .utf8)
            let args = ["--home", home.path]
            let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            defer { gateway.kill() }
            let token = try await osprey.run(
                ["tokens", "create", "--role", "viewer", "--scope", "events", "--expires-in", "600"] + args
            )
            #expect(token.status == 0, "\(token.stderr)")
            let listed = try await osprey.run(["tokens", "list"] + args)
            #expect(listed.stdout.contains("scopes events  expires "), "\(listed.stdout)")
            #expect(await gateway.stop() == 0)
            // The gateway appended its signed heads outside the home; the ledger verifies against them.
            let lines = try String(contentsOfFile: witness, encoding: .utf8).split(separator: "\n")
            #expect(!lines.isEmpty)
            let verified = try await osprey.run(["audit", "verify", "--witness", witness] + args)
            #expect(verified.status == 0, "\(verified.stdout)")
            // A line the ledger's key did not sign is caught.
            let forged =
                #"{"hash":"\#(String(repeating: "0", count: 64))","seq":1,"signature":"\#(String(repeating: "0", count: 64))"}"#
            try (String(contentsOfFile: witness, encoding: .utf8) + forged + "\n")
                .write(toFile: witness, atomically: false, encoding: .utf8)
            let broken = try await osprey.run(["audit", "verify", "--witness", witness] + args)
            #expect(broken.status == 1)
            #expect(broken.stdout.contains("not signed"))
        }
    }

    @Test func aCallThatWaitsForAHumanIsApprovedFromTheCLI() async throws {
        // A model that asks for inline Python (which always needs a human), then answers.
        let arguments = JSONValue.object(["command": .string("python3 -c \"open('made.txt','w').write('x')\"")])
        let call =
            #"{"choices":[{"index":0,"finish_reason":"tool_calls","delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"run_command","arguments":"#
            + JSONValue.string(arguments.canonicalJSON).canonicalJSON + "}}]}}]}"
        let server = ScriptedHTTPServer(responses: [.sse([call, "[DONE]"])], fallback: Self.hello)
        try await server.run { server in
            let home = try TemporaryDirectory(prefix: "osprey-cli")
            defer { home.remove() }
            try Self.configure(home, server: server)
            let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            defer { gateway.kill() }
            let args = ["--home", home.path]
            let osprey = self.osprey
            async let asked = osprey.run(["ask", "make the file"] + args)
            // The run waits; the approval shows up in the CLI.
            var id: String?
            for _ in 0..<200 where id == nil {
                let listed = try await osprey.run(["approvals", "list", "--json"] + args)
                id = try JSONValue.parse(listed.stdout)["approvals"]?.arrayValue?.first?["id"]?.stringValue
                if id == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            let approval = try #require(id)
            let approved = try await osprey.run(["approvals", "approve", approval] + args)
            #expect(approved.status == 0, "\(approved.stderr)")
            #expect(approved.stdout.contains("granted"))
            let answer = try await asked
            #expect(answer.status == 0, "\(answer.stderr)")
            #expect(answer.stderr.contains("[approval needed]"))
            #expect(answer.stderr.contains("osprey approvals approve \(approval)"))
            #expect(FileManager.default.fileExists(atPath: home.url.appendingPathComponent("workspace/made.txt").path))
            // A second approval of the same id is refused: it was used.
            let again = try await osprey.run(["approvals", "approve", approval] + args)
            #expect(again.status == 1)
            #expect(again.stderr.contains("already used"))
        }
    }
}
