import Foundation
import Logging
import NIOCore
import NIOPosix
import OspreyCore
import OspreyMCP
import OspreyStore
import ServiceLifecycle
import Synchronization

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
                .childChannelOption(.autoRead, value: false)
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
    ///
    /// Reading is flow-controlled (`autoRead` off): lines are taken only while the socket takes what is written to
    /// it, a request runs only while fewer than ``maxRunning`` of the connection's requests run (``maxWaiting`` more
    /// may wait their turn), and the next bytes are read only once every line read has been taken. A host that
    /// sends faster than its calls end, or stops reading its answers, waits on its own connection, and the gateway
    /// holds a bounded amount for it.
    final class Connection: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        /// Requests of one connection that run at once (as on a WebSocket).
        static let maxRunning = 16
        /// Requests of one connection read and waiting for one of those to end.
        static let maxWaiting = 64
        /// Notifications (progress, resource updates) held for a host that is not reading; later ones are dropped
        /// until it reads again. Answers are never dropped: the requests that owe them are bounded.
        static let maxHeldNotifications = 256

        enum Phase {
            case greeting
            /// The session is being built; lines wait for it.
            case opening
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
        var finishing = false
        /// Requests read while ``maxRunning`` ran, in order, with their sizes. Lines are read on while they are
        /// few (so a cancellation still comes through), and not once ``maxWaiting`` or a megabyte of them wait.
        var waiting: [(message: JSONValue, size: Int)] = []
        var waitingBytes = 0
        var waitingFull: Bool { waiting.count >= Self.maxWaiting || waitingBytes >= 1 << 20 }
        /// Notifications written since the socket last stopped taking writes.
        let held = Held()

        final class Held: Sendable {
            private let count = Mutex(0)
            /// Counts one more; whether that one is past the limit.
            func add() -> Bool {
                count.withLock { count in
                    count += 1
                    return count > Connection.maxHeldNotifications
                }
            }
            func reset() { count.withLock { $0 = 0 } }
        }

        init(door: MCPSocketDoor, channel: any Channel) {
            self.door = door
            self.channel = channel
        }

        func channelActive(context: ChannelHandlerContext) {
            context.read()
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            pending.writeBuffer(&incoming)
        }

        func channelReadComplete(context: ChannelHandlerContext) { resume() }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if context.channel.isWritable {
                held.reset()
                resume()
            }
            context.fireChannelWritabilityChanged()
        }

        /// Takes the lines read while the socket takes writes: requests while fewer than ``maxRunning`` run (later
        /// ones wait, in order, in `waiting`), notifications at once, so a host can cancel a call while others
        /// wait. Once every line read is taken, reads on while few wait, or at the end of the input lets the calls
        /// finish.
        private func resume() {
            taking: while channel.isWritable {
                switch phase {
                case .greeting:
                    guard let line = nextLine() else { break taking }
                    greet(line)
                case .open(let entry, let session):
                    if !waiting.isEmpty, session.inFlight < Self.maxRunning {
                        let (message, size) = waiting.removeFirst()
                        waitingBytes -= size
                        Self.deliver(message, to: session, entry, bus: door.ledger.bus)
                    } else if waitingFull {
                        break taking
                    } else if let line = nextLine() {
                        take(line, entry, session)
                    } else {
                        break taking
                    }
                case .opening, .closed: break taking
                }
            }
            // Resumed when a request ends or the socket drains.
            guard !waitingFull, !pending.readableBytesView.contains(UInt8(ascii: "\n")) else { return }
            if pending.readableBytes > door.maxLineBytes {
                if !skipping { refuse(line: pending.readableBytes) }
                skipping = true
                pending.clear()
            }
            pending.discardReadBytes()
            switch phase {
            case _ where inputEnded: if waiting.isEmpty { ended() }
            case .greeting, .open: if channel.isWritable { channel.read() }
            case .opening, .closed: break
            }
        }

        /// The next whole line read, without its line end; a line that is too long is refused and skipped.
        private func nextLine() -> [UInt8]? {
            while let end = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending.readBytes(length: end - pending.readerIndex) ?? []
                pending.moveReaderIndex(forwardBy: 1)
                if skipping {
                    skipping = false
                } else if line.count > door.maxLineBytes {
                    refuse(line: line.count)
                    guard case .open = phase else { return nil }
                } else if !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == 13 }) {
                    return line.last == UInt8(ascii: "\r") ? Array(line.dropLast()) : line
                }
            }
            return nil
        }

        private func refuse(line length: Int) {
            let reason = "the line is longer than \(door.maxLineBytes) bytes (\(length) so far)"
            if case .open(_, let session) = phase { return session.refuse(reason) }
            close(saying: ["error": .string(reason)])
        }

        private func take(_ line: [UInt8], _ entry: MCPController.Entry, _ session: MCPServerSession) {
            guard let message = try? JSONValue.parse(line) else { return session.receive(line: line) }  // -32700
            if message["id"] != nil, message["method"] != nil,
                !waiting.isEmpty || session.inFlight >= Self.maxRunning
            {
                waiting.append((message, line.count))
                waitingBytes += line.count
                return
            }
            // A request cancelled before its turn never runs (on this channel a cancellation has no answer).
            if message["method"] == "notifications/cancelled", let id = message["params"]?["requestId"],
                let index = waiting.firstIndex(where: { $0.message["id"] == id })
            {
                waitingBytes -= waiting.remove(at: index).size
                return
            }
            Self.deliver(message, to: session, entry, bus: door.ledger.bus)
        }

        static func deliver(
            _ message: JSONValue,
            to session: MCPServerSession,
            _ entry: MCPController.Entry,
            bus: EventBus
        ) {
            if message["method"] == "resources/subscribe" { entry.watch(bus) }
            session.receive(message)
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
            phase = .opening
            let channel = self.channel
            let held = self.held
            let send: @Sendable (JSONValue) -> Void = { message in
                // A notification for a host that has stopped reading is dropped past the few held for it.
                if message["id"] == nil, !channel.isWritable, held.add() { return }
                Self.write(message, to: channel)
            }
            let bound = NIOLoopBound(self, eventLoop: channel.eventLoop)
            let resume: @Sendable () -> Void = { channel.eventLoop.execute { bound.value.resume() } }
            Task { [controller = door.controller] in
                let session = await controller.engine(
                    session: entry.id,
                    token: token,
                    send: send,
                    requestEnded: resume
                )
                entry.attach(session)
                channel.eventLoop.execute { bound.value.opened(entry, session) }
            }
        }

        private func opened(_ entry: MCPController.Entry, _ session: MCPServerSession) {
            guard case .opening = phase else { return entry.close() }
            phase = .open(entry, session)
            Self.write(["session": .string(entry.id)], to: channel)
            resume()
        }

        /// The host's input ended and every line was taken: the calls in flight are answered, then the connection
        /// closes.
        private func ended() {
            switch phase {
            case .open(_, let session) where !finishing:
                finishing = true
                let channel = self.channel
                Task {
                    await session.drain()
                    channel.close(promise: nil)
                }
            case .greeting: channel.close(promise: nil)
            case .open, .opening, .closed: break
            }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard let event = event as? ChannelEvent, event == .inputClosed else {
                return context.fireUserInboundEventTriggered(event)
            }
            inputEnded = true
            resume()
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
