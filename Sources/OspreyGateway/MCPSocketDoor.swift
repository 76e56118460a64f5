import Foundation
import Logging
import NIOCore
import NIOPosix
import OspreyCore
import OspreyMCP
import OspreyStore
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// `<home>/mcp.sock`: the MCP door `osprey mcp serve` carries a host's stdio to, byte for byte.
///
/// The stdio transport's own framing (one JSON-RPC message per line) over a Unix socket in the home (mode 0600),
/// so a bridged call costs one local round trip and no HTTP: the same sessions as `/mcp` (``MCPController/engine``),
/// hence the same catalog, operation table, policy and ledger actor (`user:<token>/mcp:<session>`). The first line
/// is the bridge's token (`{"token": "..."}`), checked as the HTTP door checks a bearer token (unrevoked,
/// unexpired, role and scope for `mcp`, lockout after repeated failures, `auth.failed` in the ledger); the gateway
/// answers `{"session": "mcp_..."}` or `{"error": "..."}` and closes. When the host's input ends the bridge
/// half-closes the socket: the calls in flight are answered, then the door closes.
struct MCPSocketDoor: Service {
    let path: String
    let controller: MCPController
    let authenticator: Authenticator
    let limiter: AuthFailureLimiter
    let lockoutSeconds: Int
    let ledger: Ledger
    /// The longest line taken; a longer one is answered with an invalid-request error and skipped.
    let maxLineBytes: Int
    let logger: Logger

    func run() async throws {
        let staging = path + ".\(getpid()).new"
        let server: any Channel
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 64)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Connection(door: self, channel: channel))
                    }
                }
                .bind(unixDomainSocketPath: staging, cleanupExistingSocketFile: true)
                .get()
        } catch {
            return await notOpen("\(error)")
        }
        // Only the home's owner may even connect (the token is still checked): the socket is made under another
        // name, restricted, and only then put where `osprey mcp serve` looks, so it is never there unrestricted.
        guard chmod(staging, 0o600) == 0, rename(staging, path) == 0 else {
            let error = String(cString: strerror(errno))
            do { try await server.close() } catch { logger.debug("MCP socket door: \(error)") }
            unlink(staging)
            return await notOpen(error)
        }
        logger.info("MCP socket door open", metadata: ["path": "\(path)"])
        await untilGracefulShutdown()
        do { try await server.close() } catch { logger.debug("MCP socket door: \(error)") }
        unlink(path)
    }

    /// `osprey mcp serve` falls back to `/mcp` over HTTP, so the gateway runs on without this door.
    private func notOpen(_ error: String) async {
        logger.warning("MCP socket door not open", metadata: ["path": "\(path)", "error": "\(error)"])
        await untilGracefulShutdown()
    }

    /// Records a refused token as the HTTP door does.
    func failed(reason: String) -> Bool {
        let lockedOut = limiter.fail(address: "unix")
        var payload: [String: JSONValue] = ["reason": .string(reason), "address": "unix", "path": .string(path)]
        if lockedOut { payload["locked_out_seconds"] = .int(lockoutSeconds) }
        let ledger = self.ledger
        let logger = self.logger
        Task {
            do {
                try await ledger.append(
                    EventDraft(type: .authFailed, actor: .anonymous, payload: .object(payload))
                )
            } catch {
                logger.error("cannot record auth.failed: \(error)")
            }
        }
        return lockedOut
    }

    /// One bridge's connection, on its event loop: the token line, then the session's lines.
    final class Connection: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        enum Phase {
            case greeting
            /// The session is being built; lines wait for it.
            case opening([[UInt8]])
            case open(MCPController.Entry, MCPServerSession)
            case closed
        }

        let door: MCPSocketDoor
        let channel: any Channel
        var phase = Phase.greeting
        var pending = ByteBuffer()
        /// Skipping the rest of a line that was too long.
        var skipping = false
        var inputEnded = false

        init(door: MCPSocketDoor, channel: any Channel) {
            self.door = door
            self.channel = channel
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            pending.writeBuffer(&incoming)
            while case let view = pending.readableBytesView, let newline = view.firstIndex(of: UInt8(ascii: "\n")) {
                let length = newline - pending.readerIndex
                let line = pending.readBytes(length: length) ?? []
                pending.moveReaderIndex(forwardBy: 1)
                if skipping {
                    skipping = false
                } else if line.count > door.maxLineBytes {
                    refuse(line: line.count)
                } else {
                    take(line.last == UInt8(ascii: "\r") ? Array(line.dropLast()) : line)
                }
            }
            if pending.readableBytes > door.maxLineBytes {
                if !skipping { refuse(line: pending.readableBytes) }
                skipping = true
                pending.clear()
            }
            pending.discardReadBytes()
        }

        private func refuse(line length: Int) {
            let reason = "the line is longer than \(door.maxLineBytes) bytes (\(length) so far)"
            if case .open(_, let session) = phase { return session.refuse(reason) }
            close(saying: ["error": .string(reason)])
        }

        private func take(_ line: [UInt8]) {
            guard !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) else { return }
            switch phase {
            case .greeting: greet(line)
            case .opening(var waiting):
                waiting.append(line)
                phase = .opening(waiting)
            case .open(let entry, let session): Self.deliver(line, to: session, entry, bus: door.ledger.bus)
            case .closed: break
            }
        }

        static func deliver(_ line: [UInt8], to session: MCPServerSession, _ entry: MCPController.Entry, bus: EventBus)
        {
            switch Result(catching: { try JSONValue.parse(line) }) {
            case .success(let message):
                if message["method"] == "resources/subscribe" { entry.watch(bus) }
                session.receive(message)
            case .failure:
                session.receive(line: line)  // answers the parse error
            }
        }

        /// The token line: the same checks as a bearer token on `/mcp`.
        private func greet(_ line: [UInt8]) {
            if let wait = door.limiter.retryAfter(address: "unix") {
                return close(saying: [
                    "error": .string("Too many failed authentications; retry in \(Int(wait.rounded(.up))) s.")
                ])
            }
            let presented = Result(catching: { try JSONValue.parse(line) }).map { $0["token"]?.stringValue }
            guard case .success(let text?) = presented, let token = door.authenticator.authenticate(text) else {
                let missing = if case .success(nil) = presented { true } else { false }
                _ = door.failed(reason: missing ? "missing" : "invalid")
                return close(saying: [
                    "error": .string(
                        missing
                            ? "The first line must be {\"token\": \"...\"}." : "Invalid, expired or revoked token."
                    )
                ])
            }
            if let refusal = Gatekeeper.refusal(token: token, role: .viewer, group: "mcp") {
                return close(saying: ["error": .string(refusal.message)])
            }
            let entry = MCPController.Entry(id: "mcp_" + UUID().uuidString.lowercased(), tokenID: token.id.rawValue)
            phase = .opening([])
            let channel = self.channel
            let send: @Sendable (JSONValue) -> Void = { message in Self.write(message, to: channel) }
            let bound = NIOLoopBound(self, eventLoop: channel.eventLoop)
            Task { [controller = door.controller] in
                let session = await controller.engine(session: entry.id, token: token, send: send)
                entry.attach(session)
                channel.eventLoop.execute { bound.value.opened(entry, session) }
            }
        }

        private func opened(_ entry: MCPController.Entry, _ session: MCPServerSession) {
            guard case .opening(let waiting) = phase else { return entry.close() }
            phase = .open(entry, session)
            Self.write(["session": .string(entry.id)], to: channel)
            for line in waiting { Self.deliver(line, to: session, entry, bus: door.ledger.bus) }
            if inputEnded { finish(session) }
        }

        /// The host's input ended: the calls in flight are answered, then the connection closes.
        private func finish(_ session: MCPServerSession) {
            let channel = self.channel
            Task {
                await session.drain()
                channel.close(promise: nil)
            }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard let event = event as? ChannelEvent, event == .inputClosed else {
                return context.fireUserInboundEventTriggered(event)
            }
            inputEnded = true
            switch phase {
            case .open(_, let session): finish(session)
            case .greeting: context.close(promise: nil)
            case .opening, .closed: break
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            if case .open(let entry, _) = phase { entry.close() }
            phase = .closed
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            door.logger.debug("MCP socket connection: \(error)")
            context.close(promise: nil)
        }

        private func close(saying message: JSONValue) {
            phase = .closed
            let channel = self.channel
            Self.write(message, to: channel)
            channel.close(promise: nil)
        }

        static func write(_ message: JSONValue, to channel: any Channel) {
            let text = message.canonicalJSON
            var buffer = channel.allocator.buffer(capacity: text.utf8.count + 1)
            buffer.writeString(text)
            buffer.writeInteger(UInt8(ascii: "\n"))
            channel.writeAndFlush(buffer, promise: nil)
        }
    }
}
