import Foundation
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The only way out for a sandboxed command that is granted network: an HTTP proxy in the gateway that judges
/// every connection by the agent's ``EgressPolicy`` and the SSRF guard, then connects to the one checked address.
///
/// Each command gets a ``EgressGrant`` of its own: a Unix socket the proxy listens on for that command alone,
/// bound into its sandbox. The command's network namespace has nothing but loopback; `osprey-jail` forwards
/// `127.0.0.1:3128` inside it to the socket, and the proxy variables point there. The proxy speaks `CONNECT`
/// (any protocol, TLS included, to an allowed host) and absolute-form requests (`GET http://host/path`, sent on
/// in origin form); a host off the allowlist, a raw IP that is not on it, an address the guard refuses, or a
/// malformed request is answered with an error status and nothing is connected.
public struct EgressProxy: Hashable, Sendable {
    /// Where the proxy listens inside a command's network namespace (the jail's forwarder).
    public static let port = 3128
    /// Where the grant's socket is bound inside the sandbox.
    public static let socketInside = "/run/osprey-egress.sock"
    /// The environment that sends a command's HTTP clients to the proxy.
    public static let environment: [String: String] = {
        let url = "http://127.0.0.1:\(port)"
        var variables: [String: String] = ["NO_PROXY": "", "no_proxy": ""]
        for name in ["http_proxy", "https_proxy", "all_proxy"] {
            variables[name] = url
            variables[name.uppercased()] = url
        }
        return variables
    }()
    /// The most connections a grant remembers for the ledger (the rest are counted).
    static let decisionLimit = 200
    /// The longest request head the proxy reads.
    static let headLimit = 16 * 1024

    /// The private directory the grants' sockets are made in.
    public let directory: String
    let connectTimeout: Duration

    /// A proxy whose sockets live in `directory` (created 0700 with the first grant).
    public init(directory: String, connectTimeout: Duration = .seconds(10)) {
        self.directory = directory
        self.connectTimeout = connectTimeout
    }

    /// Opens a door for one command, judged by `policy`; close it when the command has ended.
    public func open(_ policy: EgressPolicy) async throws -> EgressGrant {
        do {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw SandboxError(reason: "cannot create the egress directory \(directory): \(error)")
        }
        let path = directory + "/egress-" + String(UInt32.random(in: .min ... .max), radix: 16) + ".sock"
        guard path.utf8.count < 108 else {
            throw SandboxError(reason: "the egress socket path \(path) is too long for a Unix socket")
        }
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true, childChannelInitializer: Self.relayed)
        chmod(path, 0o600)
        let log = EgressLog()
        let timeout = TimeAmount(connectTimeout)
        let task = Task {
            do {
                try await server.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in connections {
                            group.addTask {
                                await Self.serve(connection, policy: policy, log: log, timeout: timeout)
                            }
                        }
                    }
                }
            } catch {
                // The grant ends by cancellation, or the socket failed: either way no door is left open.
            }
        }
        return EgressGrant(socketPath: path, task: task, log: log)
    }

    /// Both ends of a relayed connection: bytes as they come, each side able to half-close (a client's end of
    /// input reaches the server as one, and the server's answer still comes back).
    @Sendable static func relayed(_ channel: any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> {
        channel.eventLoop.makeCompletedFuture {
            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                wrappingChannelSynchronously: channel,
                configuration: .init(isOutboundHalfClosureEnabled: true)
            )
        }
    }

    /// One connection: its request judged, then connected and relayed both ways until either side ends.
    static func serve(
        _ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        policy: EgressPolicy,
        log: EgressLog,
        timeout: TimeAmount
    ) async {
        do {
            try await connection.executeThenClose { input, output in
                var incoming = input.makeAsyncIterator()
                var head = ByteBuffer()
                var request: ProxyRequest?
                do {
                    while request == nil {
                        guard var chunk = try await incoming.next() else { return }
                        head.writeBuffer(&chunk)
                        request = try ProxyRequest.parse(&head, limit: headLimit)
                    }
                } catch let refusal as ProxyRefusal {
                    try await output.write(refusal.response)
                    return
                }
                guard let request else { return }
                let upstream: NIOAsyncChannel<ByteBuffer, ByteBuffer>
                do {
                    upstream = try await connect(request, policy: policy, log: log, timeout: timeout)
                } catch let refusal as ProxyRefusal {
                    try await output.write(refusal.response)
                    return
                }
                try await upstream.executeThenClose { upstreamInput, upstreamOutput in
                    if request.tunnel {
                        try await output.write(ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n"))
                    } else {
                        try await upstreamOutput.write(ByteBuffer(string: request.forwardedHead))
                    }
                    if head.readableBytes > 0 { try await upstreamOutput.write(head) }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await chunk in upstreamInput { try await output.write(chunk) }
                            output.finish()
                        }
                        while let chunk = try await incoming.next() { try await upstreamOutput.write(chunk) }
                        upstreamOutput.finish()
                        try await group.waitForAll()
                    }
                }
            }
        } catch {
            // A side reset or the grant was closed: the connection ends; its decision is already in the log.
        }
    }

    /// The upstream connection for `request`, after the policy and the guard allowed it; every outcome is logged.
    static func connect(
        _ request: ProxyRequest,
        policy: EgressPolicy,
        log: EgressLog,
        timeout: TimeAmount
    ) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        var decision = EgressDecision(method: request.method, host: request.host, port: request.port)
        do {
            // Resolving blocks: it runs on NIO's thread pool, never on an event loop or the task pool.
            let address = try await NIOThreadPool.singleton.runIfActive { try policy.address(for: request.host) }
            decision.address = address.description
            let upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(timeout)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .connect(
                    to: try SocketAddress(ipAddress: address.description, port: request.port),
                    channelInitializer: Self.relayed
                )
            log.append(decision)
            return upstream
        } catch let error as SandboxError {
            decision.refusal = error.reason
            log.append(decision)
            // Not resolvable is the network's answer; everything else is the policy's.
            let status = error.reason.hasPrefix("cannot resolve") ? 502 : 403
            throw ProxyRefusal(status: status, message: error.reason)
        } catch {
            decision.refusal = "cannot connect: \(error)"
            log.append(decision)
            throw ProxyRefusal(status: 502, message: "cannot connect to \(request.host):\(request.port): \(error)")
        }
    }
}

/// One connection the egress proxy judged: where it was going, the address it was pinned to, or why it was refused.
public struct EgressDecision: Hashable, Sendable {
    public var method: String
    public var host: String
    public var port: Int
    public var address: String?
    public var refusal: String?

    public init(method: String, host: String, port: Int, address: String? = nil, refusal: String? = nil) {
        self.method = method
        self.host = host
        self.port = port
        self.address = address
        self.refusal = refusal
    }

    public var allowed: Bool { refusal == nil }
}

/// The decisions of one grant, shared by its connections.
final class EgressLog: Sendable {
    let state = Mutex<(decisions: [EgressDecision], dropped: Int)>(([], 0))

    func append(_ decision: EgressDecision) {
        state.withLock { state in
            if state.decisions.count < EgressProxy.decisionLimit {
                state.decisions.append(decision)
            } else {
                state.dropped += 1
            }
        }
    }
}

/// One command's door out of its sandbox: the socket bound into it, and what went through.
public final class EgressGrant: Sendable {
    /// The Unix socket on the host; ``EgressProxy/socketInside`` inside the sandbox.
    public let socketPath: String
    let task: Task<Void, Never>
    let log: EgressLog

    init(socketPath: String, task: Task<Void, Never>, log: EgressLog) {
        self.socketPath = socketPath
        self.task = task
        self.log = log
    }

    /// The connections judged so far, in order (at most 200), and how many more were not kept.
    public var decisions: (kept: [EgressDecision], dropped: Int) {
        log.state.withLock { ($0.decisions, $0.dropped) }
    }

    /// Closes the door: the listener and every connection through it; the socket file is removed.
    public func close() async {
        task.cancel()
        await task.value
        unlink(socketPath)
    }
}

/// A request the proxy refuses, as the HTTP answer the client gets.
struct ProxyRefusal: Error, Equatable {
    var status: Int
    var message: String

    var response: ByteBuffer {
        let reasons = [
            400: "Bad Request", 403: "Forbidden", 431: "Request Header Fields Too Large", 502: "Bad Gateway",
        ]
        let body = "osprey egress proxy: \(message)\n"
        return ByteBuffer(
            string: "HTTP/1.1 \(status) \(reasons[status] ?? "Error")\r\nContent-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        )
    }
}

/// A proxy request's head: a `CONNECT host:port` tunnel, or an absolute-form `http://` request to pass on.
struct ProxyRequest: Equatable {
    var method: String
    var host: String
    var port: Int
    var tunnel: Bool
    /// For a passed-on request: its head in origin form, without the proxy's own header fields.
    var forwardedHead: String

    /// The request whose head `buffer` holds, with the head consumed; nil while the head is incomplete.
    static func parse(_ buffer: inout ByteBuffer, limit: Int) throws(ProxyRefusal) -> ProxyRequest? {
        let bytes = buffer.readableBytesView
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else {
            if bytes.count > limit { throw ProxyRefusal(status: 431, message: "the request head is too long") }
            return nil
        }
        let length = end.upperBound - bytes.startIndex
        guard length <= limit else { throw ProxyRefusal(status: 431, message: "the request head is too long") }
        let head = buffer.readString(length: length) ?? ""
        return try parse(head: head)
    }

    /// Parses a complete head (through its blank line).
    static func parse(head: String) throws(ProxyRefusal) -> ProxyRequest {
        var lines = head.components(separatedBy: "\r\n")
        while lines.last == "" { lines.removeLast() }
        guard let line = lines.first else { throw ProxyRefusal(status: 400, message: "empty request") }
        let parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1."), !parts[0].isEmpty,
            parts[0].allSatisfy({ $0.isLetter && $0.isUppercase })
        else { throw ProxyRefusal(status: 400, message: "malformed request line") }
        let (method, target, version) = (parts[0], parts[1], parts[2])
        if method == "CONNECT" {
            guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]),
                (1...65535).contains(port)
            else { throw ProxyRefusal(status: 400, message: "CONNECT needs host:port, got '\(target)'") }
            let host = String(target[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            guard !host.isEmpty else { throw ProxyRefusal(status: 400, message: "CONNECT without a host") }
            return ProxyRequest(method: method, host: host.lowercased(), port: port, tunnel: true, forwardedHead: "")
        }
        guard target.lowercased().hasPrefix("http://"), let url = URLComponents(string: target),
            let host = url.host, !host.isEmpty
        else {
            let hint = target.lowercased().hasPrefix("https://") ? "; use CONNECT for https" : ""
            throw ProxyRefusal(status: 400, message: "a proxy request needs an absolute http:// URL\(hint)")
        }
        let port = url.port ?? 80
        guard (1...65535).contains(port) else { throw ProxyRefusal(status: 400, message: "bad port \(port)") }
        var path = url.percentEncodedPath.isEmpty ? "/" : url.percentEncodedPath
        if let query = url.percentEncodedQuery { path += "?" + query }
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        var fields = lines.dropFirst().filter { field in
            let name = field.prefix { $0 != ":" }.lowercased()
            return name != "proxy-connection" && name != "proxy-authorization"
        }
        if !fields.contains(where: { $0.prefix { $0 != ":" }.lowercased() == "host" }) {
            fields.insert("Host: " + (url.port == nil ? host : "\(host):\(port)"), at: 0)
        }
        let forwarded = ([method + " " + path + " " + version] + fields).joined(separator: "\r\n") + "\r\n\r\n"
        return ProxyRequest(method: method, host: bare, port: port, tunnel: false, forwardedHead: forwarded)
    }
}
