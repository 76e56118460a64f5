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
    /// A request body's most bytes (`[gateway] max_body_bytes`): a larger one is not asked for with `100 Continue`.
    var maxBodyBytes = 1 << 20
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
        await inner.handle(
            value: value,
            logger: Logger(label: logger.label) { _ in ClientCausedAtDebug(inner: logger.handler) }
        )
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
