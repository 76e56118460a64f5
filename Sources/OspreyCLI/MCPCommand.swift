import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyMCP
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `osprey mcp`: Osprey as an MCP server for MCP hosts.
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Osprey as an MCP server for MCP hosts (Claude Code, Cursor, Zed, ...).",
        subcommands: [Serve.self]
    )

    /// `osprey mcp serve`: an MCP server on stdin/stdout, bridged to the running gateway's `/mcp`.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve MCP over stdio, bridged to the running gateway (for an MCP host's config).",
            discussion: """
                In the host's config: {"command": "osprey", "args": ["mcp", "serve"]}. It needs a running gateway \
                (it refuses to start without one) and acts with the home's token, or with $OSPREY_TOKEN when set \
                (a narrower token: an operator token bound to an agent, say). Logs go to stderr only.
                """
        )
        @OptionGroup var options: HomeOptions

        func run() async throws {
            let home = options.resolved
            let gateway: GatewayClient
            do {
                gateway = try GatewayClient(home: home, token: ProcessInfo.processInfo.environment["OSPREY_TOKEN"])
                // The gateway's socket when it has one: a byte pump, no HTTP per message.
                if let socket = try SocketBridge.connect(home.mcpSocket.path, token: gateway.token) {
                    return await socket.pump()
                }
                _ = try await gateway.request(.GET, "/api/status")
            } catch {
                FileHandle.standardError.write(Data("osprey mcp serve: \(error)\n".utf8))
                throw ExitCode(1)
            }
            try await Self.bridge(to: gateway)
        }

        /// Carries the host's lines to the gateway's `/mcp` and every message back as a line (when the gateway's
        /// socket is not there): the session, its tools, resources, prompts, progress and policy all live in the
        /// gateway, once for every door.
        static func bridge(to gateway: GatewayClient) async throws {
            let output = Mutex(())
            @Sendable func write(_ message: JSONValue) {
                output.withLock { _ in _ = StdioConnection.writeLine(message, to: 1) }
            }
            guard let url = URL(string: gateway.baseURL + "/mcp") else { throw ExitCode(1) }
            let connection = try StreamableHTTPConnection(
                url: url,
                headers: ["Authorization": "Bearer \(gateway.token)"],
                egress: nil,
                onMessage: { message in
                    switch message {
                    case .success(let value): write(value)
                    case .failure(let error):
                        FileHandle.standardError.write(Data("osprey mcp serve: \(error)\n".utf8))
                    }
                },
                onExit: { reason in
                    FileHandle.standardError.write(Data("osprey mcp serve: the gateway \(reason)\n".utf8))
                }
            )
            // stdin is read by a thread that blocks on it (no polling); lines go to the gateway as they come.
            let (lines, sink) = AsyncStream<Result<[UInt8], StdioConnectionError>>.makeStream()
            Thread.detachNewThread {
                StdioConnection.readLines(0) { sink.yield($0) }
                sink.finish()
            }
            for await line in lines {
                switch line {
                case .success(let bytes):
                    let message = try? JSONValue.parse(bytes)
                    connection.send(
                        bytes: ByteBuffer(bytes: bytes),
                        id: message?["method"] != nil ? message?["id"] : nil,
                        initialize: message?["method"] == "initialize"
                    )
                case .failure(let error):
                    FileHandle.standardError.write(Data("osprey mcp serve: \(error)\n".utf8))
                    write(["jsonrpc": "2.0", "id": .null, "error": ["code": -32600, "message": .string("\(error)")]])
                }
            }
            // The host closed its input: the answers in flight still reach it, then the session ends.
            await connection.drain()
            await connection.stop()
        }
    }
}

/// The gateway's MCP socket (`<home>/mcp.sock`) joined to stdin and stdout: after the token line, bytes are copied
/// both ways as they come by two threads blocked in `read` (no parsing, no polling); the gateway frames, checks and
/// answers. When the host's input ends the socket is half-closed, and the bridge ends when the gateway closes.
struct SocketBridge: Sendable {
    let descriptor: Int32

    /// Connects and presents `token`; nil when no gateway listens there (no socket, or a stale one).
    static func connect(_ path: String, token: String) throws -> SocketBridge? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            return nil
        }
        let bridge = SocketBridge(descriptor: descriptor)
        guard bridge.writeAll(Array(JSONValue.object(["token": .string(token)]).canonicalJSON.utf8) + [0x0A]) else {
            close(descriptor)
            return nil
        }
        // The gateway's answer: the session, or why not.
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count < 65_536, read(descriptor, &byte, 1) == 1, byte != 0x0A { line.append(byte) }
        let answer = try? JSONValue.parse(line)
        guard answer?["session"] != nil else {
            close(descriptor)
            throw MCPBridgeError(
                message: answer?["error"]?.stringValue ?? "the gateway's MCP socket closed without an answer"
            )
        }
        return bridge
    }

    func pump() async {
        let descriptor = self.descriptor
        Thread.detachNewThread {
            Self.copy(from: 0, to: descriptor)
            shutdown(descriptor, Int32(SHUT_WR))
        }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                Self.copy(from: descriptor, to: 1)
                close(descriptor)
                done.resume()
            }
        }
    }

    func writeAll(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { Self.writeAll($0, to: descriptor) } }

    static func writeAll(_ raw: UnsafeRawBufferPointer, to descriptor: Int32) -> Bool {
        var offset = 0
        while offset < raw.count {
            let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    /// Copies `from` to `to` until the end of `from` or a failed write.
    static func copy(from source: Int32, to target: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let done = buffer.withUnsafeMutableBytes { raw -> Bool in
                let count = read(source, raw.baseAddress, raw.count)
                if count < 0 && errno == EINTR { return false }
                return count <= 0 || !writeAll(UnsafeRawBufferPointer(rebasing: raw[..<count]), to: target)
            }
            if done { return }
        }
    }
}

struct MCPBridgeError: Error, CustomStringConvertible {
    let message: String
    var description: String { "the gateway refused: \(message)" }
}
