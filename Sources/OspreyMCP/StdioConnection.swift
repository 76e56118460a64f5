import COspreySystem
public import Foundation
public import OspreyCore
import OspreyTools
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An MCP server run as a child process, spoken to in JSON-RPC over its standard streams: one message per line.
///
/// The child gets its own process group, the environment it is given and nothing else, and no descriptor of the
/// gateway's but its three pipes. A thread of the connection's own blocks on the child's stdout (no polling) and
/// hands each message to ``onMessage``; lines longer than ``maxLineBytes`` are refused and the rest of that line
/// skipped, so a server cannot make the gateway hold an unbounded line. The child's stderr is read the same way and
/// only its last lines are kept, for error messages.
public final class StdioConnection: Sendable {
    public let pid: Int32
    /// The server's stdin, under the lock every write holds (so lines never interleave); -1 once closed, so a second
    /// stop (a stop while the start it interrupts also stops) never closes a descriptor number something else has
    /// been given since: that closed one of NIO's sockets under it, and NIO's selector asserted.
    private let input: Mutex<Int32>
    private let status = Status()

    /// What the reader threads learn, shared with them.
    final class Status: Sendable {
        let stderrTail = Mutex<[String]>([])
        let exited = Mutex(false)
    }
    /// Writing to a server that has gone (one that exits before it reads its first message) raises SIGPIPE, whose
    /// default action ends the whole process: the gateway died so. Ignored process-wide, as a program that writes
    /// to its children's pipes must; the write then fails with EPIPE, which ``send(_:)`` reports. The servers start
    /// with SIGPIPE back at its default.
    private static let brokenPipesIgnored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// The longest message line accepted from the server.
    public static let maxLineBytes = 4 << 20

    /// Starts `command` (an absolute path or a name looked up in `PATH`) with `arguments`, `environment` and
    /// working directory `directory`. `onMessage` gets each parsed message (or the reason a line was refused) on the
    /// reader thread; `onExit` is called once, after the last message, when the child's stdout closes, with how the
    /// child ended (`exited with status 3`, `was killed by signal 9`).
    public init(
        command: String,
        arguments: [String],
        environment: [String: String],
        directory: String?,
        onMessage: @escaping @Sendable (Result<JSONValue, StdioConnectionError>) -> Void,
        onExit: @escaping @Sendable (String) -> Void
    ) throws {
        guard let executable = CommandRunner.which(command, path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        else {
            throw StdioConnectionError("command '\(command)' not found")
        }
        Self.brokenPipesIgnored
        let toChild = try Self.pipe()
        let fromChild = try Self.pipe()
        let errors = try Self.pipe()
        let argv = [executable] + arguments
        let envp = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        var child: pid_t = 0
        let spawned = CommandRunner.withCStrings(argv) { argv in
            CommandRunner.withCStrings(envp) { envp in
                osprey_spawn_stdio(argv, envp, directory, toChild[0], fromChild[1], errors[1], &child)
            }
        }
        close(toChild[0])
        close(fromChild[1])
        close(errors[1])
        guard spawned == 0 else {
            close(toChild[1])
            close(fromChild[0])
            close(errors[0])
            throw StdioConnectionError("cannot start '\(command)': \(String(cString: strerror(spawned)))")
        }
        pid = child
        input = Mutex(toChild[1])
        let output = fromChild[0]
        let errorOutput = errors[0]
        let status = self.status
        // Signalled when the child's stderr has been read to its end: the reason given for its exit includes its
        // last words, which may still be in the pipe when its stdout closes.
        let stderrRead = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { stderrRead.signal() }
            Self.readLines(errorOutput) { line in
                if case .success(let text) = line {
                    status.stderrTail.withLock { lines in
                        lines.append(String(decoding: text.prefix(1000), as: UTF8.self))
                        if lines.count > 20 { lines.removeFirst() }
                    }
                }
            }
            close(errorOutput)
        }
        Thread.detachNewThread { [child] in
            Self.readLines(output) { line in
                switch line {
                case .success(let bytes):
                    do {
                        onMessage(.success(try JSONValue.parse(bytes)))
                    } catch {
                        onMessage(.failure(StdioConnectionError("malformed JSON from the server: \(error)")))
                    }
                case .failure(let error):
                    onMessage(.failure(error))
                }
            }
            close(output)
            var code: Int32 = 0
            waitpid(child, &code, 0)
            // At most a second: something the child started may still hold its stderr open.
            _ = stderrRead.wait(timeout: .now() + 1)
            status.exited.withLock { $0 = true }
            let how =
                (code & 0x7f) == 0
                ? "exited with status \((code >> 8) & 0xff)" : "was killed by signal \(code & 0x7f)"
            onExit(how)
        }
    }

    /// The last lines the server wrote to stderr.
    public var stderr: [String] { status.stderrTail.withLock { $0 } }

    public var hasExited: Bool { status.exited.withLock { $0 } }

    /// Writes one message as a line; false when the server no longer reads (its stdin is closed).
    @discardableResult
    public func send(_ message: JSONValue) -> Bool {
        input.withLock { input in input >= 0 && Self.writeLine(message, to: input) }
    }

    /// Writes `message` and a newline to `descriptor`, all of it; false when the reader is gone. Callers that share
    /// the descriptor between tasks hold a lock around it, so lines never interleave.
    public static func writeLine(_ message: JSONValue, to descriptor: Int32) -> Bool {
        var bytes = message.canonicalBytes
        bytes.append(0x0A)
        return bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
    }

    /// Closes the server's stdin (a well-behaved server exits), then ends its process group: SIGTERM, and SIGKILL
    /// after `grace` if it is still there.
    public func stop(grace: Duration = .seconds(2)) async {
        input.withLock { input in
            if input >= 0 { close(input) }
            input = -1
        }
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(200)
        while !hasExited, clock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        if hasExited { return }
        kill(-pid, SIGTERM)
        let end = clock.now + grace
        while !hasExited, clock.now < end { try? await Task.sleep(for: .milliseconds(20)) }
        if !hasExited { kill(-pid, SIGKILL) }
    }

    /// Reads `descriptor` to its end, one line at a time; blank lines are skipped, and an over-long line is reported
    /// once and skipped.
    public static func readLines(_ descriptor: Int32, _ body: (Result<[UInt8], StdioConnectionError>) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var line: [UInt8] = []
        var skipping = false
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            var start = 0
            for index in 0..<count where buffer[index] == 0x0A {
                if !skipping {
                    line.append(contentsOf: buffer[start..<index])
                    if !isBlank(line) { body(.success(line)) }
                }
                line.removeAll(keepingCapacity: line.count < 1 << 20)
                skipping = false
                start = index + 1
            }
            if !skipping {
                line.append(contentsOf: buffer[start..<count])
                if line.count > maxLineBytes {
                    body(.failure(StdioConnectionError("a message line longer than \(maxLineBytes) bytes was refused")))
                    line.removeAll()
                    skipping = true
                }
            }
        }
        if !skipping, !isBlank(line) { body(.success(line)) }
    }

    static func isBlank(_ line: [UInt8]) -> Bool { line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D } }

    static func pipe() throws -> [Int32] {
        var descriptors: [Int32] = [0, 0]
        let result = descriptors.withUnsafeMutableBufferPointer { osprey_pipe_cloexec($0.baseAddress) }
        if result < 0 { throw StdioConnectionError("pipe: \(String(cString: strerror(-result)))") }
        return descriptors
    }
}

/// Why a connection to an MCP server failed or refused a message.
public struct StdioConnectionError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
