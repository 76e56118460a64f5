import Foundation
import Hummingbird
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The MCP socket door (`<home>/mcp.sock`) with hosts that ask for more than they take.
@Suite(.serialized)
struct MCPSocketDoorTests {
    @Test(.timeLimit(.minutes(3))) func aHostRunsAFewCallsAtOnceTheRestWaitInOrderAndCanBeCancelled() async throws {
        let provider = CountingSlowProvider()
        let gateway = try await TestGateway(provider: provider)
        let path = gateway.kernel.home.mcpSocket.path
        try await gateway.app().test(.live) { _ in
            let host = try await MCPSocketHost.open(path)
            defer { host.close() }
            // Twenty calls, each waiting on the model, a ping, and a cancellation of the last call before its turn
            let limit = 16  // MCPSocketDoor.Connection.maxRunning
            var lines: [String] = []
            for n in 1...20 {
                lines.append(
                    #"{"jsonrpc":"2.0","id":\#(n),"method":"tools/call","params":{"name":"ask_agent","arguments":{"message":"hi"}}}"#
                )
            }
            lines.append(#"{"jsonrpc":"2.0","id":"ping","method":"ping"}"#)
            lines.append(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":20}}"#)
            try host.send(lines)
            // Sixteen run; the rest wait (before: all twenty ran at once)
            try await TestRuns.waitUntil(timeout: .seconds(30)) { provider.calls >= limit }
            try await Task.sleep(for: .seconds(1))
            #expect(provider.calls == limit)
            // A cancellation is taken while calls wait: each cancelled call lets the next waiting one run
            for n in 1...3 {
                try host.send([#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":\#(n)}}"#])
            }
            try await TestRuns.waitUntil(timeout: .seconds(30)) { provider.calls == limit + 3 }
            // and the ping, which waited its turn behind them, is answered once one more call ends; the call
            // cancelled before its turn never ran
            try host.send([#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4}}"#])
            let answer = try host.readLine(timeout: .seconds(30))
            #expect(answer?["id"] == "ping", "\(String(describing: answer).prefix(2000))")
            try await Task.sleep(for: .seconds(1))
            #expect(provider.calls == limit + 3)
            for n in 5...18 {
                try host.send([#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":\#(n)}}"#])
            }
            // An id still in flight is refused: its work could be neither counted nor cancelled
            try host.send([
                #"{"jsonrpc":"2.0","id":19,"method":"tools/call","params":{"name":"ask_agent","arguments":{"message":"again"}}}"#
            ])
            let refused = try host.readLine(timeout: .seconds(30))
            #expect(refused?["id"] == 19 && refused?["error"]?["code"] == -32600, "\(String(describing: refused))")
            try host.send([#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":19}}"#])
        }
    }

    @Test(.timeLimit(.minutes(3))) func aHostThatStopsReadingIsNotReadEitherAndLosesNoAnswer() async throws {
        let gateway = try await TestGateway()
        let path = gateway.kernel.home.mcpSocket.path
        try await gateway.app().test(.live) { _ in
            let host = try await MCPSocketHost.open(path)
            defer { host.close() }
            // A host that writes pings as fast as it can and reads none of the answers
            let offered = 32 << 20
            var made = 0
            var accepted = 0
            var complete = 0  // lines written whole
            var batch: [UInt8] = []
            while accepted < offered {
                if batch.isEmpty {
                    for _ in 0..<1000 {
                        made += 1
                        batch += Array(#"{"jsonrpc":"2.0","id":\#(made),"method":"ping"}"#.utf8) + [10]
                    }
                }
                let written = host.write(batch, stallLimit: .seconds(3))
                if written == 0 { break }  // stalled for 3 s
                accepted += written
                complete += batch[..<written].count { $0 == 10 }
                batch.removeFirst(written)
            }
            // is stopped by the gateway long before it has sent all it meant to (before: 32 MB taken and answered
            // into the gateway's memory)
            try #require(accepted < 8 << 20, "the gateway took \(accepted) bytes from a host that read nothing")
            // Every line it did send is answered, in order, once it reads
            var next = 1
            while next <= complete, let answer = try host.readLine(timeout: .seconds(30)) {
                #expect(answer["id"] == .int(next))
                guard answer["id"] == .int(next) else { break }
                next += 1
            }
            #expect(next == complete + 1, "answers up to \(next - 1) of \(complete)")
        }
    }
}

/// A host on the MCP socket: the token line and an initialized session, then raw lines both ways.
final class MCPSocketHost {
    let descriptor: Int32
    var buffer: [UInt8] = []

    init(descriptor: Int32) { self.descriptor = descriptor }

    /// Connects as the admin token (the socket opens beside the HTTP server, maybe just after it) and initializes.
    static func open(_ path: String) async throws -> MCPSocketHost {
        var host: MCPSocketHost?
        try await TestRuns.waitUntil(timeout: .seconds(30)) {
            host = try? connect(path)
            return host != nil
        }
        let opened = try #require(host)
        try opened.send([#"{"token":"\#(TestGateway.adminToken)"}"#])
        let greeting = try opened.readLine(timeout: .seconds(30))
        try #require(greeting?["session"]?.stringValue != nil, "\(String(describing: greeting))")
        try opened.send([
            #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#,
            #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        ])
        let initialized = try opened.readLine(timeout: .seconds(30))
        try #require(initialized?["id"] == 0 && initialized?["result"] != nil, "\(String(describing: initialized))")
        return opened
    }

    static func connect(_ path: String) throws -> MCPSocketHost {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw POSIXError(.ECONNREFUSED)
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        return MCPSocketHost(descriptor: descriptor)
    }

    /// Sends whole lines, waiting as long as it takes.
    func send(_ lines: [String]) throws {
        var bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        while !bytes.isEmpty {
            let written = write(bytes, stallLimit: .seconds(30))
            guard written > 0 else { throw POSIXError(.ETIMEDOUT) }
            bytes.removeFirst(written)
        }
    }

    /// Writes what the socket takes; waits up to `stallLimit` for it to take anything. Returns the bytes taken.
    func write(_ bytes: [UInt8], stallLimit: Duration) -> Int {
        var taken = 0
        while taken < bytes.count {
            let written = bytes[taken...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written > 0 {
                taken += written
                continue
            }
            guard written < 0, errno == EAGAIN || errno == EINTR else { return taken }
            if taken > 0 { return taken }
            var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            guard poll(&poller, 1, Int32(stallLimit.components.seconds * 1000)) > 0 else { return 0 }
        }
        return taken
    }

    /// The next line as JSON; nil when the gateway closed, throws when nothing came in `timeout`.
    func readLine(timeout: Duration) throws -> JSONValue? {
        while true {
            if let end = buffer.firstIndex(of: 10) {
                let line = Array(buffer[..<end])
                buffer.removeFirst(end + 1)
                return try JSONValue.parse(line)
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(timeout.components.seconds * 1000)) > 0 else {
                throw POSIXError(.ETIMEDOUT)
            }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { return nil }
            if count < 0 {
                guard errno == EAGAIN || errno == EINTR else { throw POSIXError(.EIO) }
                continue
            }
            buffer += chunk[..<count]
        }
    }

    func close() { Glibc.close(descriptor) }
}
