import Foundation
import HTTPTypes
import Hummingbird
public import HummingbirdCore
import HummingbirdWebSocket
import Logging
public import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyStore

/// How long a connection may take and how much it may send before the gateway gives up on it.
struct EdgeLimits: Sendable {
    /// From the connection opening (or the end of the previous response) to a complete request head.
    var headerTimeout: TimeAmount
    /// A keep-alive connection with no request in progress is closed after this.
    var idleTimeout: TimeAmount
    /// A connection whose client has taken nothing written to it for this long (an event stream or WebSocket it
    /// stopped reading) is closed: it would hold one of the gateway's connections for ever.
    var writeStallTimeout: TimeAmount = .seconds(60)
    /// The request line (method, target, version); longer gets 414.
    var maxRequestLine = 8192
    /// All header fields together; more gets 431.
    var maxHeaderBytes = 64 * 1024
    /// Header fields; more gets 431.
    var maxHeaderCount = 100
}

/// The HTTP/1 channel with WebSocket upgrade, plus the gateway's edge: malformed or oversized requests answered
/// with 400/414/431 and closed, a header-read timeout against slow clients, and refused upgrades answered with
/// their real status (403 foreign origin, 401 bad token, 429 locked out) before the upgrade is attempted.
///
/// hummingbird-websocket answers every declined upgrade with a bare 400, and leaves a connection whose request
/// cannot be parsed open with no answer; both are decided here, around NIO's HTTP decoder.
struct GuardedWebSocketChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value
    let inner: HTTP1WebSocketUpgradeChannel
    let gatekeeper: Gatekeeper
    let limits: EdgeLimits

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let gatekeeper = self.gatekeeper
        let limits = self.limits
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let decoder = try channel.pipeline.syncOperations.context(
                handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self
            )
            let state = EdgeState()
            try channel.pipeline.syncOperations.addHandler(
                WriteStallGuardHandler(limit: limits.writeStallTimeout, logger: logger),
                position: .first
            )
            try channel.pipeline.syncOperations.addHandler(HangUpHandler(), position: .first)
            // First in the pipeline, in front of the response encoder, so its raw answer reaches the socket as is.
            try channel.pipeline.syncOperations.addHandler(
                RequestLineGuardHandler(state: state, limits: limits),
                position: .first
            )
            try channel.pipeline.syncOperations.addHandler(WebSocketMaskGuardHandler(state: state), position: .first)
            try channel.pipeline.syncOperations.addHandler(
                EdgeGuardHandler(gatekeeper: gatekeeper, state: state, limits: limits, logger: logger),
                position: .after(decoder.handler)
            )
            if case .refused(let first) = gatekeeper.addresses.admit(channel) {
                if first {
                    logger.warning(
                        "connections refused: a client address holds its limit",
                        metadata: [
                            "address": "\(channel.remoteAddress.map { "\($0)" } ?? "-")",
                            "limit": "\(gatekeeper.addresses.limit)",
                        ]
                    )
                }
                // In front of everything: nothing of the connection is read, the answer goes out as raw bytes.
                try channel.pipeline.syncOperations.addHandler(
                    AddressRefusalHandler(limit: gatekeeper.addresses.limit),
                    position: .first
                )
            }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with WebSocket upgrades on `router`, the edge limits applied, refused upgrades answered by
    /// ``Gatekeeper``.
    static func guardedWebSocketUpgrade(
        router: Router<GatewayRequestContext>,
        gatekeeper: Gatekeeper,
        limits: EdgeLimits,
        maxFrameSize: Int
    ) -> HTTPServerBuilder {
        let webSocketResponder = router.buildResponder()
        return HTTPServerBuilder { responder in
            GuardedWebSocketChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    webSocketResponder: webSocketResponder,
                    configuration: .init(
                        http1: .init(
                            idleTimeout: limits.idleTimeout,
                            httpDecoderConfiguration: .init(
                                maxHeaderFieldSize: limits.maxHeaderBytes,
                                maxHeaderListSize: limits.maxHeaderBytes,
                                maxHeaderFieldCount: limits.maxHeaderCount
                            )
                        ),
                        // A text frame that is not UTF-8 closes the socket with 1007, as RFC 6455 asks (it was read with U+FFFD).
                        ws: .init(maxFrameSize: maxFrameSize, validateUTF8: true)
                    )
                ),
                gatekeeper: gatekeeper,
                limits: limits
            )
        }
    }
}

/// What the two edge handlers of one connection share. Both run on the connection's event loop only.
final class EdgeState {
    enum Mode {
        case http
        /// The connection carries WebSocket frames now: not ours to read.
        case webSocket
        /// Answered with an error and closing: whatever else arrives is dropped.
        case closing
    }
    var mode = Mode.http
    /// Waiting for the first line of a new request (counting its bytes), rather than inside one.
    var awaitingRequestLine = true
    var requestLineBytes = 0
}

/// In front of the HTTP decoder: refuses a request line longer than the limit with 414, which the decoder itself
/// would buffer whole. It sees raw bytes, so it only watches for the first line break of each request.
final class RequestLineGuardHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let state: EdgeState
    let limits: EdgeLimits

    init(state: EdgeState, limits: EdgeLimits) {
        self.state = state
        self.limits = limits
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state.mode {
        case .closing: return
        case .webSocket:
            context.fireChannelRead(data)
            return
        case .http:
            if !state.awaitingRequestLine {
                context.fireChannelRead(data)
                return
            }
        }
        let buffer = unwrapInboundIn(data)
        if let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            state.awaitingRequestLine = false
            state.requestLineBytes += newline - buffer.readerIndex
        } else {
            state.requestLineBytes += buffer.readableBytes
        }
        if state.requestLineBytes > limits.maxRequestLine {
            state.mode = .closing
            EdgeResponse.send(
                context: context,
                status: .uriTooLong,
                code: "uri_too_long",
                message: "The request line is longer than \(limits.maxRequestLine) bytes.",
                raw: true
            )
            return
        }
        context.fireChannelRead(data)
    }
}

/// Behind the HTTP decoder: answers what the decoder cannot parse (400, 431) and closes, enforces the header-read
/// timeout, and refuses WebSocket upgrade requests the gatekeeper refuses.
final class EdgeGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let gatekeeper: Gatekeeper
    let state: EdgeState
    let limits: EdgeLimits
    let logger: Logger
    private var headerTimer: Scheduled<Void>?
    /// A request's head has been read and its end has not: its body is on its way.
    private var readingBody = false
    /// The request being read has been answered, or its answer has begun.
    private var answered = false

    init(gatekeeper: Gatekeeper, state: EdgeState, limits: EdgeLimits, logger: Logger) {
        self.gatekeeper = gatekeeper
        self.state = state
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startHeaderTimer(context: context, after: limits.headerTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startHeaderTimer(context: context, after: limits.headerTimeout)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        headerTimer?.cancel()
        headerTimer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        headerTimer?.cancel()
        headerTimer = nil
        context.fireChannelInactive()
    }

    /// A slow or silent client gets 408 (or, if it sent nothing, a plain close) once the head is overdue: the
    /// header timeout on a new connection, the idle timeout between requests on a kept-alive one.
    private func startHeaderTimer(context: ChannelHandlerContext, after delay: TimeAmount) {
        headerTimer?.cancel()
        let bound = NIOLoopBound((context, self), eventLoop: context.eventLoop)
        headerTimer = context.eventLoop.scheduleTask(in: delay) {
            let (context, handler) = bound.value
            guard handler.state.mode == .http else { return }
            handler.state.mode = .closing
            if handler.state.requestLineBytes == 0 && handler.state.awaitingRequestLine {
                context.close(promise: nil)
            } else {
                EdgeResponse.send(
                    context: context,
                    status: .requestTimeout,
                    code: "request_timeout",
                    message: "The request head did not arrive in time."
                )
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        headerTimer?.cancel()
        if state.mode == .closing { return }
        state.mode = .closing
        let status: HTTPResponseStatus = parserError == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest
        EdgeResponse.send(
            context: context,
            status: status,
            code: status == .badRequest ? "malformed_request" : "headers_too_large",
            message: status == .badRequest
                ? "The request could not be parsed as HTTP/1.1 (\(parserError))."
                : "The request headers exceed \(limits.maxHeaderBytes) bytes or \(limits.maxHeaderCount) fields."
        )
    }

    /// A request whose body stopped arriving is closed by the HTTP server behind at its idle timeout, unanswered: it
    /// gets 408 first, unless its answer has already begun.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, readingBody, !answered, state.mode == .http, context.channel.isActive else {
            context.close(mode: mode, promise: promise)
            return
        }
        state.mode = .closing
        EdgeResponse.send(
            context: context,
            status: .requestTimeout,
            code: "request_timeout",
            message: "The request body stopped arriving."
        )
        context.channel.closeFuture.cascade(to: promise)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        if case .head = part { answered = true }
        if case .end = part {
            // The response is complete: the next request's head is due within the timeout.
            state.awaitingRequestLine = true
            state.requestLineBytes = 0
            startHeaderTimer(context: context, after: limits.idleTimeout)
        }
        context.write(data, promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if state.mode == .closing { return }
        let part = unwrapInboundIn(data)
        if case .end = part { readingBody = false }
        if case .head(let head) = part {
            headerTimer?.cancel()
            headerTimer = nil
            readingBody = true
            answered = false
            if let problem = Self.hostProblem(head) {
                // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host, and to any with two.
                state.mode = .closing
                EdgeResponse.send(context: context, status: .badRequest, code: "bad_host", message: problem)
                return
            }
            let isUpgrade = head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
            if isUpgrade, let (error, failure) = refusal(head, context: context) {
                state.mode = .closing  // answered and closing: the rest of the request is dropped
                if let failure {
                    let ledger = gatekeeper.ledger
                    let logger = self.logger
                    // NIO event-loop callback to async ledger: the bridging edge where an unstructured Task is allowed.
                    Task {
                        do {
                            try await ledger.append(failure)
                        } catch {
                            logger.error("cannot record \(failure.type.rawValue): \(error)")
                        }
                    }
                }
                EdgeResponse.send(context: context, error: error)
                return
            }
            if isUpgrade {
                // An accepted upgrade: the pipeline is about to carry WebSocket frames, which are not ours to read.
                state.mode = .webSocket
                context.fireChannelRead(data)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
        }
        context.fireChannelRead(data)
    }

    /// Why a request's Host header makes it unanswerable, if it does: none in HTTP/1.1 (HTTP/1.0 may omit it), more
    /// than one, or one that is empty or holds a space, a slash or an `@` (no host name does).
    static func hostProblem(_ head: HTTPRequestHead) -> String? {
        let hosts = head.headers[canonicalForm: "host"]
        if hosts.isEmpty {
            guard head.version.major == 1 && head.version.minor >= 1 else { return nil }
            return "An HTTP/1.1 request needs a Host header."
        }
        guard hosts.count == 1, let host = hosts.first else {
            return "A request carries one Host header, not \(hosts.count)."
        }
        if host.isEmpty || host.contains(where: { " \t/@\\".contains($0) }) {
            return "The Host header is not a host name (with an optional port)."
        }
        return nil
    }

    private func refusal(_ head: HTTPRequestHead, context: ChannelHandlerContext) -> (APIError, EventDraft?)? {
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts.first ?? "")
        let ticket = parts.dropFirst().first.flatMap { query in
            URLComponents(string: "?" + query)?.queryItems?.first { $0.name == "ticket" }?.value
        }
        let decision = gatekeeper.decide(
            RequestFacts(
                method: HTTPRequest.Method(head.method.rawValue) ?? .get,
                path: path,
                host: head.headers.first(name: "host"),
                origin: head.headers.first(name: "origin"),
                authorization: head.headers.first(name: "authorization"),
                contentType: head.headers.first(name: "content-type"),
                address: Gatekeeper.address(context.remoteAddress),
                client: Gatekeeper.client(context.remoteAddress),
                ticket: ticket,
                consumeTicket: false
            )
        )
        switch decision {
        case .reject(let error, let failure): return (error, failure)
        case .allow(let token):
            // A socket is one of its token's streams, given back when the connection closes.
            do {
                let hold = try gatekeeper.streams.take(token)
                context.channel.closeFuture.whenComplete { _ in hold.release() }
                return nil
            } catch {
                return (error, nil)
            }
        }
    }
}

/// A JSON error answer written straight to the connection, which is then closed.
enum EdgeResponse {
    static func send(context: ChannelHandlerContext, error: APIError) {
        var headers = HTTPHeaders()
        for field in error.headers { headers.add(name: field.name.canonicalName, value: field.value) }
        send(
            context: context,
            status: HTTPResponseStatus(statusCode: error.status.code, reasonPhrase: error.status.reasonPhrase),
            code: error.code,
            message: error.message,
            extraHeaders: headers
        )
    }

    /// Writes the answer and closes. `raw` writes bytes (for a handler in front of the HTTP encoder).
    static func send(
        context: ChannelHandlerContext,
        status: HTTPResponseStatus,
        code: String,
        message: String,
        extraHeaders: HTTPHeaders = [:],
        raw: Bool = false
    ) {
        let body: JSONValue = ["error": ["code": .string(code), "message": .string(message)]]
        var buffer = context.channel.allocator.buffer(capacity: 256)
        buffer.writeString(body.canonicalJSON)
        var headers = HTTPHeaders([
            ("Content-Type", "application/json"), ("Content-Length", String(buffer.readableBytes)),
            ("Connection", "close"),
        ])
        headers.add(contentsOf: extraHeaders)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        if raw {
            var bytes = context.channel.allocator.buffer(capacity: 512)
            bytes.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
            for (name, value) in headers { bytes.writeString("\(name): \(value)\r\n") }
            bytes.writeString("\r\n")
            bytes.writeBuffer(&buffer)
            context.writeAndFlush(NIOAny(bytes)).whenComplete { _ in bound.value.close(promise: nil) }
            return
        }
        let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }
}
