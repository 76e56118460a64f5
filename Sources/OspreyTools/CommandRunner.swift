import COspreySystem
public import Foundation
public import OspreyCore
import OspreySandbox

#if canImport(Glibc)
import Glibc
#endif

/// How a command ended and what it printed (stdout and stderr interleaved).
public struct CommandResult: Hashable, Sendable {
    public var exitCode: Int32?
    public var signal: Int32?
    public var output: String
    public var timedOut: Bool
    public var truncated: Bool
    /// A process outside the command's group (one that called setsid, on a rung that cannot kill it) still held the
    /// output open when the command had ended: its output was not waited for.
    public var outputHeldOpen = false
}

/// Runs a program as the leader of its own process group, with a timeout and an output cap, and kills the
/// whole group when it ends, times out, floods its output, or the caller is cancelled.
///
/// Spawned with posix_spawn and closefrom(3), so no descriptor of the gateway leaks into the child
/// (Foundation's `Process` leaks one). The blocking wait runs on its own thread, never on the cooperative pool.
public enum CommandRunner {
    public static func run(
        _ argv: [String],
        environment: [String: String],
        directory: String,
        timeout: Duration,
        outputLimit: Int
    ) async throws -> CommandResult {
        precondition(!argv.isEmpty, "argv[0] is the program")  // callers always pass a program
        let cancelled = Latch()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // The wait blocks in poll(2): a plain thread is the bridging edge here, not a Task.
                Thread.detachNewThread {
                    continuation.resume(
                        with: Result {
                            try runBlocking(
                                argv,
                                environment: environment,
                                directory: directory,
                                timeout: timeout,
                                outputLimit: outputLimit,
                                cancelled: cancelled
                            )
                        }
                    )
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }

    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    static func runBlocking(
        _ argv: [String],
        environment: [String: String],
        directory: String,
        timeout: Duration,
        outputLimit: Int,
        cancelled: Latch
    ) throws -> CommandResult {
        var fds: [Int32] = [0, 0]
        let piped = osprey_pipe_cloexec(&fds)
        guard piped == 0 else { throw SpawnError(description: "pipe: \(String(cString: strerror(-piped)))") }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        var pid: pid_t = 0
        let environmentList = environment.map { "\($0.key)=\($0.value)" }.sorted()
        let status = withCStrings(argv) { argvPointers in
            withCStrings(environmentList) { envPointers in
                osprey_spawn(argvPointers, envPointers, directory, writeEnd, &pid)
            }
        }
        close(writeEnd)
        guard status == 0 else {
            close(readEnd)
            throw SpawnError(description: "cannot start \(argv[0]): \(String(cString: strerror(status)))")
        }
        defer { close(readEnd) }
        let deadline = ContinuousClock.now + timeout
        var output: [UInt8] = []
        var truncated = false
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        var waitStatus: Int32 = 0
        var leaderExited = false
        var eof = false
        var heldOpen = false
        // Once the leader has ended and its group is killed, what is still in the pipe is read for this long; a
        // process that left the group (setsid) and keeps the pipe open is not waited for past it.
        var drainUntil: ContinuousClock.Instant?
        while !eof {
            if let drainUntil, ContinuousClock.now > drainUntil {
                heldOpen = true
                break
            }
            if cancelled.isSet {
                kill(-pid, SIGKILL)
                _ = waitpid(pid, &waitStatus, 0)
                throw CancellationError()
            }
            if ContinuousClock.now > deadline && !timedOut {
                timedOut = true
                kill(-pid, SIGKILL)
            }
            var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 50)
            if ready > 0 {
                let count = read(readEnd, &buffer, buffer.count)
                if count > 0 {
                    let room = max(0, outputLimit - output.count)
                    output.append(contentsOf: buffer[0..<min(count, room)])
                    if count > room && !truncated {
                        truncated = true
                        kill(-pid, SIGKILL)
                    }
                } else if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) {
                    eof = true
                }
            }
            if !leaderExited && waitpid(pid, &waitStatus, WNOHANG) == pid {
                leaderExited = true
                // Background children of the command must not outlive it or keep its output open.
                kill(-pid, SIGKILL)
                drainUntil = ContinuousClock.now + Self.drain
            }
        }
        if !leaderExited { _ = waitpid(pid, &waitStatus, 0) }
        kill(-pid, SIGKILL)
        let exited = (waitStatus & 0x7f) == 0
        return CommandResult(
            exitCode: exited ? (waitStatus >> 8) & 0xff : nil,
            signal: exited ? nil : waitStatus & 0x7f,
            output: String(decoding: output, as: UTF8.self),
            timedOut: timedOut,
            truncated: truncated,
            outputHeldOpen: heldOpen
        )
    }

    /// How long the output is read after the command has ended.
    static let drain: Duration = .seconds(1)

    /// Where `program` is: itself if it names a path (and is executable), else the first executable of that name on
    /// `path` (`PATH`'s form), or nil.
    public static func which(
        _ program: String,
        path: String = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    ) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        return path.split(separator: ":").map { "\($0)/\(program)" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// Calls `body` with a NULL-terminated C array of the strings (for argv and envp).
    public static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies = strings.map { strdup($0) }
        defer { for copy in copies { free(copy) } }
        var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
        pointers.append(nil)
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }  // a non-empty array always has storage
    }
}

/// `run_command`: a shell command in the workspace, with a timeout and an output cap.
public struct RunCommand: Tool {
    public struct Arguments: Decodable {
        var command: String
        var timeoutSeconds: Int?

        enum CodingKeys: String, CodingKey {
            case command
            case timeoutSeconds = "timeout_seconds"
        }
    }

    public init() {}

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "run_command",
            description: "Run a shell command in the workspace directory. Returns its exit code and combined output.",
            properties: ["command": .argument("string"), "timeout_seconds": .argument("integer", "At most 600")],
            required: ["command"]
        )
    }

    /// The whole environment a command sees: no secrets, no inherited variables.
    static func environment(workspace: String) -> [String: String] {
        [
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workspace, "LANG": "C.UTF-8", "TERM": "dumb",
            "PWD": workspace,
        ]
    }

    /// Kills what is left of a command and removes its cgroups on a Dispatch thread: it may wait for the kernel.
    static func release(_ launch: Launch) async {
        _ = try? await Workspace.offload { launch.release() }
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        var assessment = ToolAssessment(risk: .exec)
        let (programs, dangerous) = context.commandPolicy.inventory(arguments.command)
        assessment.programs = programs
        if dangerous != nil { assessment.risk = .dangerous }
        switch context.commandPolicy.evaluate(arguments.command) {
        case .allow: break
        case .deny(let reason): assessment.refusal = reason
        case .needsApproval(let reason): assessment.approvalReason = reason
        }
        return assessment
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        guard !arguments.command.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ToolArgumentError(description: "command must not be empty")
        }
        // The policy judged this line already; the blacklist is checked again here so that no path around the
        // Toolbox can run a forbidden command.
        if case .deny(let reason) = context.commandPolicy.evaluate(arguments.command) {
            throw ToolArgumentError(description: "Refused by policy: \(reason). The command was not run.")
        }
        var timeout = context.commandTimeout
        if let seconds = arguments.timeoutSeconds {
            guard (1...600).contains(seconds) else {
                throw ToolArgumentError(description: "timeout_seconds must be 1...600")
            }
            timeout = .seconds(seconds)
        }
        let root = context.workspace.root.path
        let capabilities = context.capabilities
        guard capabilities.exec != .none else {
            throw ToolArgumentError(description: "Refused: this agent may not run commands. The command was not run.")
        }
        let sandbox = capabilities.exec == .full ? context.sandbox.withoutNamespaces : context.sandbox
        // Network only through a door of this command's own in the egress proxy, judged by the agent's allowlist.
        var grant: EgressGrant?
        if capabilities.commandNetwork {
            guard let proxy = sandbox.egressProxy else {
                throw ToolArgumentError(
                    description:
                        "Refused: commands reach the network only through the egress proxy, which is not running. The command was not run."
                )
            }
            grant = try await proxy.open(context.egress)
        }
        let launch: Launch
        switch sandbox.launch(
            ["/bin/sh", "-c", arguments.command],
            workspace: root,
            readRoots: context.roots.filter { !$0.writable }.map(\.path),
            writeRoots: context.roots.filter(\.writable).map(\.path),
            egress: grant?.socketPath
        ) {
        case .success(let prepared): launch = prepared
        case .failure(let error):
            await grant?.close()
            throw ToolArgumentError(description: "Refused: \(error.reason). The command was not run.")
        }
        var environment = Self.environment(workspace: root)
        if grant != nil { environment.merge(EgressProxy.environment) { $1 } }
        let result: CommandResult
        do {
            result = try await CommandRunner.run(
                launch.argv,
                environment: environment,
                directory: root,
                timeout: timeout,
                outputLimit: context.outputLimit
            )
        } catch {
            await Self.release(launch)
            await grant?.close()
            throw error
        }
        await Self.release(launch)
        var refusals = ""
        if let grant {
            await grant.close()
            refusals = try await Self.record(grant, context: context)
        }
        var summary: String
        if result.timedOut {
            summary = "timed out after \(timeout); process group killed"
        } else if result.truncated {
            summary = "output exceeded \(context.outputLimit) bytes; process group killed"
        } else if let code = result.exitCode {
            summary = "exit code \(code)"
        } else {
            summary = "killed by signal \(result.signal ?? 0)"
        }
        if result.outputHeldOpen {
            summary += "; a process that left the command's group kept its output open and was not waited for"
        }
        return "[\(summary)]\n" + result.output + refusals
    }

    /// Records each connection the command's grant judged as an `egress.connection` event; returns the refusals
    /// as lines for the model (it may not see the proxy's answer in the command's output).
    static func record(_ grant: EgressGrant, context: ToolContext) async throws -> String {
        let (decisions, dropped) = grant.decisions
        for decision in decisions {
            var payload: [String: JSONValue] = [
                "agent": .string(context.agent), "method": .string(decision.method), "host": .string(decision.host),
                "port": .int(decision.port), "allowed": .bool(decision.allowed),
            ]
            if let address = decision.address { payload["address"] = .string(address) }
            if let refusal = decision.refusal { payload["refusal"] = .string(refusal) }
            try await context.record?(
                EventDraft(type: .egressConnection, session: context.sessionID, payload: .object(payload))
            )
        }
        var lines = decisions.compactMap { decision in
            decision.refusal.map { "[egress refused \(decision.host):\(decision.port): \($0)]" }
        }
        if dropped > 0 { lines.append("[egress: \(dropped) more connections not recorded]") }
        return lines.isEmpty ? "" : "\n" + lines.joined(separator: "\n")
    }
}
