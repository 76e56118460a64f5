public import Foundation
import OspreyTools

#if canImport(Glibc)
import Glibc
#endif

/// The built `osprey` executable, run as a real process: the CLI and the gateway daemon under test.
public struct OspreyExecutable: Sendable {
    public let path: String

    /// `$OSPREY_BIN`, else `.build/debug/osprey` beside this package.
    public static func locate(filePath: String = #filePath) throws -> OspreyExecutable {
        if let override = ProcessInfo.processInfo.environment["OSPREY_BIN"] { return OspreyExecutable(path: override) }
        var root = URL(fileURLWithPath: filePath)
        while root.path != "/"
            && !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path)
        {
            root.deleteLastPathComponent()
        }
        for candidate in [".build/debug/osprey", ".build/release/osprey"] {
            let path = root.appendingPathComponent(candidate).path
            if FileManager.default.isExecutableFile(atPath: path) { return OspreyExecutable(path: path) }
        }
        throw ProcessFailure(message: "no osprey executable under \(root.path)/.build: run `swift build` first")
    }

    /// What a finished command printed and how it exited.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `osprey ARGS` to completion (at most `timeout`).
    public func run(
        _ arguments: [String],
        input: String? = nil,
        environment: [String: String] = [:],
        timeout: Duration = .seconds(60)
    ) async throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let ended = try await process.runToItsEnd(
            input: input,
            timeout: timeout,
            name: "osprey \(arguments.joined(separator: " "))"
        )
        return Output(status: ended.status, stdout: ended.stdout, stderr: ended.stderr)
    }

    /// Starts `osprey gateway` on a home and port and waits for its "listening" line; its log goes to `log` (a file
    /// it appends to) when given, else nowhere.
    public func startGateway(
        home: String,
        port: Int,
        extraArguments: [String] = [],
        environment: [String: String] = [:],
        log: FileHandle? = nil
    ) async throws -> GatewayProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["gateway", "--home", home, "--port", String(port)] + extraArguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = log ?? FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let gateway = GatewayProcess(process: process, port: port)
        let reader = out.fileHandleForReading
        var seen = ""
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            // Polled without blocking: a test waiting here must not hold one of the task pool's threads while the
            // gateway starts (on two cores, two such waits stalled every other test, its loopback servers included).
            // Read before the process is checked: a gateway may print its line and exit before the next poll.
            seen += reader.readAvailableNow()
            if seen.contains("listening on") { break }
            guard process.isRunning, ContinuousClock.now < deadline else {
                gateway.kill()
                throw ProcessFailure(message: "gateway did not start (output: \(seen))")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return gateway
    }
}

/// A running gateway process.
public final class GatewayProcess {
    let process: Process
    public let port: Int

    init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    public var pid: Int32 { process.processIdentifier }
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` (SIGTERM unless told) and waits for a graceful exit (polled: a drain can take seconds, which
    /// must not hold a thread of the task pool); returns the exit status (the signal's number when a signal ended it).
    /// A gateway that has not ended after two minutes is killed, with its process group.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM) async -> Int32 {
        if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
        if let status = await process.ended(within: .seconds(120)) { return status }
        process.killGroup()
        return await process.ended(within: .seconds(30)) ?? SIGKILL
    }

    /// SIGKILL: the daemon dies with no chance to clean up; so does whatever it forked that kept its process group
    /// (the Swift backtracer of a gateway that crashed).
    public func kill() {
        process.killGroupAndWait()
    }
}

/// A test process that failed to start, finish, or be found.
public struct ProcessFailure: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

extension Task where Success == String, Failure == Never {
    /// Reads a pipe to its end off the cooperative pool (the read blocks).
    public static func detachedRead(_ handle: FileHandle) async -> String {
        await withCheckedContinuation { continuation in
            // A blocking read must not occupy a cooperative thread: this is the bridging edge to a plain thread.
            Thread.detachNewThread {
                continuation.resume(returning: String(decoding: handle.readDataToEndOfFile(), as: UTF8.self))
            }
        }
    }
}

/// What a finished helper process printed and how it exited.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs `python3 ARGS` (the Python that has the interop peers: PyPI `mcp`, ...) to its end (at most `timeout`).
public func runPython(_ arguments: [String], timeout: Duration = .seconds(300)) async throws -> ProcessOutput {
    try await runProgram(["python3"] + arguments, timeout: timeout)
}

/// Runs a program found on `PATH` (`argv[0]`) to its end (at most `timeout`), `input` on its standard input.
public func runProgram(
    _ argv: [String],
    input: String? = nil,
    timeout: Duration = .seconds(300)
) async throws -> ProcessOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = argv
    return try await process.runToItsEnd(input: input, timeout: timeout, name: argv.joined(separator: " "))
}

extension Process {
    /// Starts this process with its output and errors piped and `input`, if any, on its standard input (else
    /// nothing), and waits for it to end (``toItsEnd(out:err:timeout:name:)``).
    func runToItsEnd(input: String?, timeout: Duration, name: String) async throws -> ProcessOutput {
        let out = Pipe()
        let err = Pipe()
        standardOutput = out
        standardError = err
        let stdin = Pipe()
        standardInput = input == nil ? FileHandle.nullDevice : stdin
        Self.brokenPipesIgnored
        try run()
        if let input {
            // A command may exit without reading it: the write then fails (EPIPE), and its exit says more than that.
            try? stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        return try await toItsEnd(out: out, err: err, timeout: timeout, name: name)
    }

    /// A write to a child that is gone raises SIGPIPE, whose default action ends the whole test process (it did, in
    /// CI): ignored, so the write fails instead.
    private static let brokenPipesIgnored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// Waits for this started process to end (polled: no thread of the task pool waits on it), its two pipes drained
    /// meanwhile so a chatty command cannot block on a full one.
    ///
    /// A process that outlives `timeout`, or its caller (a cancelled wait: the test around it failed), is killed:
    /// its output is read until it exits, and a command waiting for what will never come (an approval the failed
    /// test was to give) would otherwise hold the test, and the suite, for as long as it waits.
    func toItsEnd(out: Pipe, err: Pipe, timeout: Duration, name: String) async throws -> ProcessOutput {
        async let stdout = Task.detachedRead(out.fileHandleForReading)
        async let stderr = Task.detachedRead(err.fileHandleForReading)
        let deadline = ContinuousClock.now + timeout
        do {
            while isRunning && exitedButUnreaped == nil {
                guard ContinuousClock.now < deadline else { throw ProcessFailure(message: "\(name) timed out") }
                try await Task.sleep(for: .milliseconds(10))
            }
        } catch {
            killGroup()
            _ = await ended(within: .seconds(30))
            throw error
        }
        guard let status = await ended(within: .seconds(30)) else {
            killGroup()
            throw ProcessFailure(message: "\(name) ended but was not reaped")
        }
        return ProcessOutput(status: status, stdout: await stdout, stderr: await stderr)
    }

    /// SIGKILL to the child's whole process group: Foundation starts each child as the leader of a group of its own,
    /// which holds the child and what it forked without leaving the group (a backtracer, a shell's background job).
    func killGroup() {
        // Once reaped, the number may belong to another process's group.
        if isRunning { Glibc.kill(-processIdentifier, SIGKILL) }
    }

    /// Kills the child's process group and waits until Foundation has reaped the child, at most `limit` (blocking:
    /// the callers may be synchronous, and the kernel ends a killed group in milliseconds).
    public func killGroupAndWait(limit: Duration = .seconds(10)) {
        killGroup()
        let deadline = ContinuousClock.now + limit
        while isRunning && ContinuousClock.now < deadline { usleep(2_000) }
    }

    /// The child's exit status (the signal's number when a signal ended it) once it has exited, read without reaping
    /// it (`waitid` with `WNOWAIT`); nil while it runs or once it is reaped.
    ///
    /// Foundation reaps a child only when every copy of a descriptor it handed the child is closed, and a descendant
    /// can hold one after the child itself is gone: the Swift backtracer of a gateway that crashed kept the gateway's
    /// descriptors while it waited forever on a socket, and a test that waited for Foundation to see the end waited
    /// with it.
    var exitedButUnreaped: Int32? {
        var info = siginfo_t()
        let waited = waitid(P_PID, id_t(processIdentifier), &info, WEXITED | WNOHANG | WNOWAIT)
        guard waited == 0, info.si_signo == SIGCHLD else { return nil }
        return info._sifields._sigchld.si_status
    }

    /// Waits (polled: no thread of the task pool waits on it) until the child has exited, at most `limit`, and
    /// returns its exit status (the signal's number when a signal ended it), or nil if it still runs. A child that has
    /// exited but is still held by a descendant has its process group killed, so Foundation can reap it.
    func ended(within limit: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + limit
        var exitedAt: ContinuousClock.Instant?
        while ContinuousClock.now < deadline {
            if !isRunning { return terminationStatus }
            if let status = exitedButUnreaped {
                let now = ContinuousClock.now
                // Foundation reaps an ordinary child within milliseconds; one a descendant holds, when the descendant
                // ends. A backtracer writing a crash's report takes a few seconds, and is given them.
                if let since = exitedAt, now - since > .seconds(10) {
                    killGroup()
                    while isRunning && ContinuousClock.now < deadline { await Self.pause() }
                    return status
                }
                exitedAt = exitedAt ?? now
            }
            await Self.pause()
        }
        return nil
    }

    /// A few milliseconds' pause that also works in a cancelled task (whose `Task.sleep` returns at once).
    private static func pause() async {
        if Task.isCancelled { usleep(5_000) } else { try? await Task.sleep(for: .milliseconds(5)) }
    }
}

/// A Python server (an interop peer: an MCP server on Streamable HTTP, ...) run in the background on a loopback port.
public final class PythonServer: Sendable {
    private let process: Process
    public let port: Int

    /// Starts `python3 ARGS` and returns once something accepts connections on 127.0.0.1:`port`.
    public init(_ arguments: [String], port: Int, startTimeout: Duration = .seconds(30)) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        self.port = port
        let deadline = ContinuousClock.now + startTimeout
        while !IPv4Socket.accepts(port: port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                stop()
                throw ProcessFailure(message: "python3 \(arguments.joined(separator: " ")) did not listen on \(port)")
            }
            do { try await Task.sleep(for: .milliseconds(50)) } catch {
                // Cancelled while it starts: nobody will hold the server to stop it later.
                stop()
                throw error
            }
        }
    }

    public var pid: Int32 { process.processIdentifier }

    /// Ends the server (SIGKILL) and reaps it.
    public func stop() {
        process.killGroupAndWait()
    }
}

extension FileHandle {
    /// What a pipe holds now, without waiting for more (the descriptor is made non-blocking): "" when nothing has
    /// come yet or the writer is gone. A test polls it between sleeps, so no thread of the task pool blocks on a
    /// child's output.
    public func readAvailableNow() -> String {
        let descriptor = fileDescriptor
        let flags = fcntl(descriptor, F_GETFL)
        if flags & O_NONBLOCK == 0 { _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
