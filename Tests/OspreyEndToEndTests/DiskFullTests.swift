import Foundation
import OspreyCore
import OspreyTesting
import Testing

/// A gateway whose home's disk fills up: it goes on serving, answers what it cannot record with a 503 that says so,
/// loses nothing it had recorded, and records again once there is room. Its home is a 32 MiB tmpfs of its own (in
/// a mount namespace made by bubblewrap), filled and emptied by the shell that runs it when the test says so.
struct DiskFullTests {
    /// Runs the gateway with `home` on a tmpfs; `control` is where the test and the shell leave each other files.
    static let script = """
        home=$1; control=$2; osprey=$3; port=$4
        cp "$control/config.toml" "$home/config.toml"
        "$osprey" gateway --home "$home" --port "$port" > "$control/gateway.log" 2>&1 &
        gateway=$!
        until [ -s "$home/token" ]; do sleep 0.05; done
        # renamed into place: the test reads it as soon as it exists (a plain cp was once read empty)
        cp "$home/token" "$control/token.new" && mv "$control/token.new" "$control/token"
        until [ -e "$control/fill" ]; do sleep 0.05; done
        dd if=/dev/zero of="$home/filler" bs=1M count=64 2>/dev/null
        touch "$control/filled"
        until [ -e "$control/restart" ]; do sleep 0.05; done
        kill -TERM $gateway
        wait $gateway
        echo $? > "$control/stopped"
        "$osprey" gateway --home "$home" --port "$port" >> "$control/gateway.log" 2>&1 &
        gateway=$!
        until [ -e "$control/free" ]; do sleep 0.05; done
        rm -f "$home/filler"
        touch "$control/freed"
        wait $gateway
        """

    @Test(.timeLimit(.minutes(3))) func aFullDiskIsAnswered503AndTheGatewayGoesOnAndRecordsAgainOnceThereIsRoom()
        async throws
    {
        let osprey = try OspreyExecutable.locate()
        // The model answers the first message at once, the task slowly (the disk fills while it answers), then at
        // once again.
        let slow = ScriptedHTTPServer.Response(
            headers: ["Content-Type": "text/event-stream"],
            chunks: CLITests.hello.chunks,
            pause: .seconds(2)
        )
        let model = ScriptedHTTPServer(responses: [CLITests.hello, slow], fallback: CLITests.hello)
        try await model.run { server in
            let work = try TemporaryDirectory(prefix: "osprey-full")
            defer { work.remove() }
            let home = work.url.appendingPathComponent("home")
            let control = work.url.appendingPathComponent("control")
            for folder in [home, control] {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            }
            // Given a gateway whose resource guard samples every second (the disk is what it warns of)
            try (TaskRecoveryTests.config(server) + "\n[resources]\nsample_seconds = 1\n")
                .write(to: control.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
            let port = freeLoopbackPort()
            let shell = Process()
            shell.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            shell.arguments = [
                "bwrap", "--dev-bind", "/", "/", "--size", String(32 << 20), "--tmpfs", home.path, "--die-with-parent",
                "--", "sh", "-c", Self.script, "sh", home.path, control.path, osprey.path, String(port),
            ]
            shell.standardInput = FileHandle.nullDevice
            shell.standardOutput = FileHandle.nullDevice
            shell.standardError = FileHandle.nullDevice
            try shell.run()
            defer { shell.killGroupAndWait() }
            func log() -> String {
                (try? String(contentsOf: control.appendingPathComponent("gateway.log"), encoding: .utf8)) ?? ""
            }
            func exists(_ name: String) -> Bool {
                FileManager.default.fileExists(atPath: control.appendingPathComponent(name).path)
            }
            try await TaskRecoveryTests.wait("the gateway made its token") { exists("token") }
            let token = try String(contentsOf: control.appendingPathComponent("token"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let api = LoopbackAPI(port: port, token: token)
            try await TaskRecoveryTests.wait("the gateway answers") {
                try await api.call("GET", "/health").status == 200
            }
            // and a session with one exchange recorded,
            let session = try await api.call("POST", "/api/sessions", "{}")
            #expect(session.status == 201 || session.status == 200, "\(session.body)")
            let id = try #require(session.json["id"]?.stringValue)
            let first = try await api.call("POST", "/api/sessions/\(id)/messages", #"{"content":"before"}"#)
            #expect(first.status == 200, "\(first.body)")
            // and a task whose model is answering, when the home's disk fills up,
            let submitted = try await api.call("POST", "/api/tasks", #"{"title":"slow","instructions":"say hello"}"#)
            let task = try #require(submitted.json["id"]?.stringValue, "\(submitted.body)")
            try await TaskRecoveryTests.wait("the task's model is answering") { server.requests.count == 2 }
            try Data().write(to: control.appendingPathComponent("fill"))
            try await TaskRecoveryTests.wait("the disk is full") { exists("filled") }
            // then what cannot be recorded is refused with a 503 saying why: a message, a new session, a memory,
            let message = try await api.call("POST", "/api/sessions/\(id)/messages", #"{"content":"during"}"#)
            #expect(message.status == 503, "\(message.body)")
            // (the resource guard's refusal names the percentage it last sampled: 99 % if that was mid-fill)
            #expect(message.body.contains("disk is full") || message.body.contains("% full"), "\(message.body)")
            #expect(message.body.contains("disk"), "\(message.body)")
            let refusedSession = try await api.call("POST", "/api/sessions", "{}")
            #expect(refusedSession.status == 503, "\(refusedSession.body)")
            #expect(
                refusedSession.body.contains("the home's disk is full: nothing was recorded"),
                "\(refusedSession.body)"
            )
            let memory = try await api.call("POST", "/api/memory", #"{"content":"remember the full disk"}"#)
            #expect(memory.status == 503, "\(memory.body)")
            // the resource guard sees the disk full and fails to record its warning (that ended the gateway) or, if
            // it sampled while the disk was filling, recorded it in the last of the room, and the gateway goes on
            // serving, reads included;
            try await TaskRecoveryTests.wait("the guard tried to record its warning") {
                if log().contains("resource event not recorded") { return true }
                let recorded = try await api.call("GET", "/api/events?type=resource.pressure").body
                return recorded.contains("resource.pressure")
            }
            #expect(shell.isRunning, "\(log())")
            // the task is interrupted, not failed (what it did could not be recorded), and waits to start again,
            try await TaskRecoveryTests.wait("the task is interrupted") {
                log().contains("task interrupted: the store could not record it")
            }
            let interrupted = try await api.call("GET", "/api/tasks/\(task)")
            #expect(interrupted.json["status"] == "running", "\(interrupted.body)")
            let read = try await api.call("GET", "/api/sessions/\(id)/messages")
            #expect(read.status == 200 && read.body.contains("before"), "\(read.body)")
            // Stopped while the disk is full, it stops cleanly (its stop not recorded); started again, it serves
            // reads and refuses writes, its start recorded later.
            try Data().write(to: control.appendingPathComponent("restart"))
            try await TaskRecoveryTests.wait("the gateway stopped") { exists("stopped") }
            let stopped = try String(contentsOf: control.appendingPathComponent("stopped"), encoding: .utf8)
            #expect(stopped.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(log())")
            try await TaskRecoveryTests.wait("the gateway answers again") {
                try await api.call("GET", "/api/sessions/\(id)/messages").status == 200
            }
            let refusedAgain = try await api.call("POST", "/api/sessions", "{}")
            #expect(refusedAgain.status == 503 && refusedAgain.body.contains("disk is full"), "\(refusedAgain.body)")
            // and once there is room again, it records again: the guard's warning and its end (new runs are refused
            // while the pressure lasts), then the next message.
            try Data().write(to: control.appendingPathComponent("free"))
            try await TaskRecoveryTests.wait("the disk has room") { exists("freed") }
            try await TaskRecoveryTests.wait("the guard's warning and its end are in the ledger") {
                let events = try await api.call("GET", "/api/events?limit=1000").body
                return events.contains(#""resource.pressure""#) && events.contains(#""resource.relieved""#)
            }
            let after = try await api.call("POST", "/api/sessions/\(id)/messages", #"{"content":"after"}"#)
            #expect(after.status == 200, "\(after.body)")
            let transcript = try await api.call("GET", "/api/sessions/\(id)/messages").body
            #expect(transcript.contains("before") && transcript.contains("after") && !transcript.contains("during"))
            // The task, started again once there is room, resumes and completes.
            // (its next start is at most 20 s away: the wait doubles with each failure in a row while the disk is full)
            try await TaskRecoveryTests.wait("the task completed", seconds: 90) {
                try await api.call("GET", "/api/tasks/\(task)").json["status"] == "completed"
            }
            try await TaskRecoveryTests.wait("both starts are in the ledger") {
                let events = try await api.call("GET", "/api/events?type=gateway.started").json["events"]
                return events?.arrayValue?.count == 2
            }
            let completed = try await api.call("GET", "/api/tasks/\(task)").json
            #expect(completed["result"]?.stringValue?.contains("Hello from the mock.") == true, "\(completed)")
            #expect((completed["attempts"]?.intValue ?? 0) >= 2, "\(completed)")
            // Every call the model answered is on record, with what it cost: the one answered as the disk filled
            // too, whose record the store refused, kept over the stop and recorded once there was room (before: lost)
            let calls = try await api.call("GET", "/api/events?type=llm.call&limit=1000").json["events"]?.arrayValue
            #expect(
                calls?.count == server.requests.count,
                "\(calls?.count ?? 0) llm.call events, \(server.requests.count) calls"
            )
            #expect(log().contains("model calls owed are kept for the next start"), "\(log())")
            let verified = try await api.call("GET", "/api/audit/verify")
            #expect(verified.status == 200 && verified.json["ok"] == true, "\(verified.body)")
            #expect(shell.isRunning, "\(log())")
        }
    }
}

/// The gateway's REST API on a loopback port, through curl, with a bearer token.
struct LoopbackAPI {
    let port: Int
    let token: String

    struct Answer {
        var status: Int
        var body: String
        var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
    }

    func call(_ method: String, _ path: String, _ body: String? = nil) async throws -> Answer {
        var argv = [
            "curl", "-s", "-m", "60", "-X", method, "-H", "Authorization: Bearer \(token)", "-w", "\n%{http_code}",
        ]
        if let body { argv += ["-H", "Content-Type: application/json", "--data-binary", body] }
        let output = try await runProgram(argv + ["http://127.0.0.1:\(port)\(path)"], timeout: .seconds(90)).stdout
        let status = output.split(separator: "\n").last.flatMap { Int($0) } ?? 0
        let text = output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().joined(separator: "\n")
        return Answer(status: status, body: text)
    }
}
