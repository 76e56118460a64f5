public import Hummingbird
public import HummingbirdWebSocket
public import NIOCore
import OspreyStore

/// The per-request context: Hummingbird's storage, the WebSocket handler slot, the peer address, the caller's token.
public struct GatewayRequestContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    public let remoteAddress: SocketAddress?
    /// Set by the auth middleware for `/api/*` routes.
    var token: TokenRecord?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.remoteAddress = source.channel.remoteAddress
    }
}
