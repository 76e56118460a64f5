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
    /// Completes when the request's connection closes: a streamed answer stops the work behind it at once, not at
    /// its next write.
    let connectionClosed: EventLoopFuture<Void>

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.remoteAddress = source.channel.remoteAddress
        self.connectionClosed = source.channel.closeFuture
    }
}

/// A streaming door's wait for its client to hang up.
enum HangUp {
    /// Returns when `closed` completes, or when the calling task is cancelled (`EventLoopFuture.get()` would wait
    /// through a cancellation, and hold a finished stream's task group open for as long as the connection is kept
    /// alive). With no connection (a door that is not HTTP), it waits for the cancellation alone.
    static func wait(_ closed: EventLoopFuture<Void>?) async {
        let (ended, end) = AsyncStream<Void>.makeStream()
        closed?.whenComplete { _ in end.finish() }
        for await _ in ended {}
    }
}
