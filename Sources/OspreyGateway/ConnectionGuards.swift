import Logging
import NIOCore
import NIOHTTP1

/// Closes a connection whose client closed its side.
///
/// Hummingbird accepts half-closed connections (`allowRemoteHalfClosure`), so a client that hung up mid-answer left
/// its connection open until a write to it failed: a streamed run whose model was silent went on, paid for, until
/// the next keep-alive, and a stream with none went on to its end. The end of a client's input is taken as its
/// hang-up, as nginx takes it (a client that half-closes and then waits for its answer gets none).
final class HangUpHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Answers a connection its address had no room for (``AddressQuota``) with 429 `too_many_connections` and closes
/// it, reading nothing of it and passing nothing on: the handlers behind it never see the connection become active.
final class AddressRefusalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let limit: Int
    private var answered = false

    init(limit: Int) { self.limit = limit }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { answer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) { answer(context: context) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func answer(context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        EdgeResponse.send(
            context: context,
            status: .tooManyRequests,
            code: "too_many_connections",
            message: "This address already holds \(limit) connections to the gateway, the most one address may "
                + "(gateway.max_connections_per_address); close one first.",
            raw: true
        )
    }
}

/// Closes a connection once it has stayed unwritable (its client reads nothing of what is written to it) for
/// `limit`. Hummingbird's idle timeout never fires while a response is being written, and an event stream or a
/// WebSocket is always being written: a client that stopped reading one held its connection, one of
/// `max_connections`, for as long as it stayed connected. A client that reads, however slowly, makes the channel
/// writable again within the limit and is left alone.
final class WriteStallGuardHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let limit: TimeAmount
    let logger: Logger
    private var timer: Scheduled<Void>?

    init(limit: TimeAmount, logger: Logger) {
        self.limit = limit
        self.logger = logger
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            timer?.cancel()
            timer = nil
        } else if timer == nil {
            let bound = NIOLoopBound((context, self), eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: limit) {
                let (context, handler) = bound.value
                handler.logger.info(
                    "closing a connection whose client took nothing written to it",
                    metadata: [
                        "seconds": "\(handler.limit.nanoseconds / 1_000_000_000)",
                        "address": "\(context.remoteAddress.map { "\($0)" } ?? "-")",
                    ]
                )
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }
}
