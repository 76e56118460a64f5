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

/// Closes a WebSocket whose client sends a frame without a mask, as RFC 6455 §5.1 requires of a server (an unmasked
/// frame is how a page could make a proxy in between read the stream as requests of its own, poisoning its cache;
/// swift-websocket reads such frames as any other). It sees the raw bytes in front of everything and only reads the
/// frames' headers, passing every byte on untouched; a frame without a mask gets the close frame 1002 (protocol
/// error) and the connection is closed.
///
/// Frames are read from the upgrade's `101` on. A client must wait for it before its first frame (§4.1); one that
/// sent bytes before it cannot be read from a known frame boundary, so its frames go unchecked.
final class WebSocketMaskGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = ByteBuffer

    let state: EdgeState
    private var frames = ClientFrameHeaders()
    /// The upgrade's `101` went out: what the client sends from here on is frames.
    private var upgraded = false
    /// The client sent bytes between its upgrade request and the `101`: no frame boundary is known.
    private var unknownStart = false

    init(state: EdgeState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state.mode == .webSocket else {
            let buffer = unwrapInboundIn(data)
            context.fireChannelRead(data)
            // The upgrade request was decoded in this read: anything after its head (a GET has no body) came early.
            if state.mode == .webSocket {
                unknownStart = !buffer.readableBytesView.suffix(4).elementsEqual("\r\n\r\n".utf8)
            }
            return
        }
        guard upgraded else {
            unknownStart = true
            context.fireChannelRead(data)
            return
        }
        if !unknownStart, !frames.take(unwrapInboundIn(data).readableBytesView) {
            state.mode = .closing
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            // FIN + close, two bytes of payload: 1002
            let close = context.channel.allocator.buffer(bytes: [0x88, 0x02, 0x03, 0xEA])
            context.writeAndFlush(wrapOutboundOut(close)).whenComplete { _ in bound.value.close(promise: nil) }
            return
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if !upgraded, state.mode == .webSocket, case .byteBuffer(let bytes) = unwrapOutboundIn(data),
            bytes.readableBytesView.starts(with: "HTTP/1.1 101".utf8)
        {
            upgraded = true
        }
        context.write(data, promise: promise)
    }
}

/// The headers of the frames a WebSocket client sends, read from its byte stream as it arrives: each frame's mask
/// bit, then its payload skipped by its length.
struct ClientFrameHeaders {
    private var header: [UInt8] = []
    private var payloadLeft: UInt64 = 0

    /// Takes the stream's next bytes; false at a frame without a mask.
    mutating func take(_ bytes: ByteBufferView) -> Bool {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if payloadLeft > 0 {
                let skipped = min(UInt64(bytes.endIndex - index), payloadLeft)
                index += Int(skipped)
                payloadLeft -= skipped
                continue
            }
            header.append(bytes[index])
            index += 1
            guard header.count >= 2 else { continue }
            guard header[1] & 0x80 != 0 else { return false }
            let short = header[1] & 0x7F
            let extended = short == 126 ? 2 : short == 127 ? 8 : 0
            // the two first bytes, the extended length, the 4-byte mask
            guard header.count == 2 + extended + 4 else { continue }
            payloadLeft =
                extended == 0 ? UInt64(short) : header[2..<(2 + extended)].reduce(0) { $0 << 8 | UInt64($1) }
            header.removeAll(keepingCapacity: true)
        }
        return true
    }
}
