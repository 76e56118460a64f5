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

/// The HTTP/1 channel with WebSocket upgrade, plus a guard that answers a refused upgrade with its real
/// status (403 foreign origin, 401 bad token, 429 locked out) before the upgrade is attempted.
///
/// hummingbird-websocket answers every declined upgrade with a bare 400; a client (and the spec we follow)
/// needs to tell a forbidden origin from a bad token, so the decision is taken here, in front of the upgrader.
struct GuardedWebSocketChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value
    let inner: HTTP1WebSocketUpgradeChannel
    let gatekeeper: Gatekeeper

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let gatekeeper = self.gatekeeper
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let decoder = try channel.pipeline.syncOperations.context(
                handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self
            )
            try channel.pipeline.syncOperations.addHandler(
                UpgradeGuardHandler(gatekeeper: gatekeeper),
                position: .after(decoder.handler)
            )
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with WebSocket upgrades on `router`, refused upgrades answered by ``Gatekeeper``.
    static func guardedWebSocketUpgrade(
        router: Router<GatewayRequestContext>,
        gatekeeper: Gatekeeper,
        maxFrameSize: Int
    ) -> HTTPServerBuilder {
        let webSocketResponder = router.buildResponder()
        return HTTPServerBuilder { responder in
            GuardedWebSocketChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    webSocketResponder: webSocketResponder,
                    configuration: .init(ws: .init(maxFrameSize: maxFrameSize))
                ),
                gatekeeper: gatekeeper
            )
        }
    }
}

/// Sits between the HTTP decoder and the upgrader; refuses WebSocket upgrade requests the gatekeeper refuses.
final class UpgradeGuardHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let gatekeeper: Gatekeeper
    private var discarding = false

    init(gatekeeper: Gatekeeper) { self.gatekeeper = gatekeeper }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head(let head) = part {
            discarding = false
            let isUpgrade = head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
            if isUpgrade, let (error, failure) = refusal(head, context: context) {
                discarding = true
                if let failure {
                    let ledger = gatekeeper.kernel.store.ledger
                    // NIO event-loop callback to async ledger: the bridging edge where an unstructured Task is allowed.
                    Task { _ = try? await ledger.append(failure) }
                }
                respond(context: context, error: error)
                return
            }
            if isUpgrade {
                // An accepted upgrade: the pipeline is about to carry WebSocket frames, which are not ours to read.
                context.fireChannelRead(data)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
        }
        if discarding { return }
        context.fireChannelRead(data)
    }

    private func refusal(_ head: HTTPRequestHead, context: ChannelHandlerContext) -> (APIError, EventDraft?)? {
        let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
        let decision = gatekeeper.decide(
            method: HTTPRequest.Method(head.method.rawValue) ?? .get,
            path: path,
            origin: head.headers.first(name: "origin"),
            authorization: head.headers.first(name: "authorization"),
            address: Gatekeeper.address(context.remoteAddress)
        )
        if case .reject(let error, let failure) = decision { return (error, failure) }
        return nil
    }

    private func respond(context: ChannelHandlerContext, error: APIError) {
        let body: JSONValue = ["error": ["code": .string(error.code), "message": .string(error.message)]]
        var buffer = context.channel.allocator.buffer(capacity: 256)
        buffer.writeString(body.canonicalJSON)
        var headers = HTTPHeaders([
            ("Content-Type", "application/json"), ("Content-Length", String(buffer.readableBytes)),
            ("Connection", "close"),
        ])
        for field in error.headers { headers.add(name: field.name.canonicalName, value: field.value) }
        let head = HTTPResponseHead(
            version: .http1_1,
            status: HTTPResponseStatus(statusCode: error.status.code, reasonPhrase: error.status.reasonPhrase),
            headers: headers
        )
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }
}
