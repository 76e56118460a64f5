import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyStore

/// Behind the HTTP decoder: answers what the decoder cannot parse (400, 431) and closes, enforces the header-read
/// timeout, refuses WebSocket upgrade requests the gatekeeper refuses, and ends a connection after the answer to a
/// request that asks it to (HTTP/1.0 without `keep-alive`, or a `Connection` naming `close`).
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
    /// The request being answered ends its connection: its answer says so (RFC 9112 §9.6).
    private var lastOnConnection = false

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
        // RFC 9112 §9.6: bytes after a request that closes its connection are not read; the request itself is
        // answered (it was answered 400 in its place).
        if parserError == .closedConnection { return }
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
        if case .head(var head) = part {
            answered = true
            if lastOnConnection
                && !head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "close" })
            {
                head.headers.replaceOrAdd(name: "Connection", value: "close")
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
        }
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
        if case .head(let received) = part {
            headerTimer?.cancel()
            headerTimer = nil
            readingBody = true
            answered = false
            lastOnConnection = !received.isKeepAlive
            // RFC 9112 §3.2.2: the host of an absolute-form target is the request's, whatever `Host` says, so it is
            // the one checked (a request for `http://evil.example/…` was served on `Host: 127.0.0.1`).
            let head = Self.originForm(received)
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
                context.fireChannelRead(wrapInboundOut(.head(head)))
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
            var passed = head
            if lastOnConnection && head.headers[canonicalForm: "connection"] != ["close"] {
                // RFC 9112 §9.3: an HTTP/1.0 request without `keep-alive`, or any whose `Connection` names `close`
                // among other options, ends its connection after the answer. The HTTP server behind closes only on
                // a `Connection` of exactly `close` (an HTTP/1.0 client waited for the idle timeout for its end).
                passed.headers.replaceOrAdd(name: "Connection", value: "close")
            }
            if Self.awaitsContinue(head, maxBodyBytes: limits.maxBodyBytes) {
                // RFC 9110 §10.1.1: a client that sent `Expect: 100-continue` waits for this before its body (curl
                // for a second, then sends it anyway). A body over the limit gets its 413 without it, unsent.
                context.writeAndFlush(
                    wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))),
                    promise: nil
                )
            }
            context.fireChannelRead(wrapInboundOut(.head(passed)))
            return
        }
        context.fireChannelRead(data)
    }

    /// `head` with an absolute-form target (`GET http://host:port/path?query`) in origin form, its authority as the
    /// one `Host`; any other head as it is. The authority is then checked as any `Host` is.
    static func originForm(_ head: HTTPRequestHead) -> HTTPRequestHead {
        guard head.method != .CONNECT, let schemeEnd = head.uri.range(of: "://"),
            head.uri[..<schemeEnd.lowerBound].allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }),
            head.uri.first?.isLetter == true
        else { return head }
        let rest = head.uri[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        var path = String(rest[authorityEnd...])
        if !path.hasPrefix("/") { path = "/" + path }
        var head = head
        head.uri = path
        head.headers.replaceOrAdd(name: "Host", value: String(rest[..<authorityEnd]))
        return head
    }

    /// Whether a request waits for `100 Continue` before sending its body: HTTP/1.1, `Expect: 100-continue`, a
    /// body to come, and no `Content-Length` over the gateway's limit.
    static func awaitsContinue(_ head: HTTPRequestHead, maxBodyBytes: Int) -> Bool {
        guard head.version.major == 1 && head.version.minor >= 1,
            head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" })
        else { return false }
        if let length = head.headers.first(name: "content-length").flatMap(Int.init) {
            return length > 0 && length <= maxBodyBytes
        }
        return head.headers[canonicalForm: "transfer-encoding"].contains { $0.lowercased() == "chunked" }
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
