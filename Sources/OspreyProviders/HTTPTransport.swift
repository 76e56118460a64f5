public import AsyncHTTPClient
import Foundation
public import NIOCore
import NIOHTTP1
public import OspreyCore
import Synchronization

/// The HTTP client the drivers share, with connect and read timeouts, and the streaming POST they all make.
public struct HTTPTransport: Sendable {
    public let client: HTTPClient
    /// Longest wait for response headers.
    public var headTimeout: TimeAmount

    /// A process-wide client: connect 10 s, read idle 120 s. Lives as long as the process.
    public static let shared = HTTPTransport(silentAtMost: 120)

    public init(client: HTTPClient, headTimeout: TimeAmount) {
        self.client = client
        self.headTimeout = headTimeout
    }

    /// A new client whose server may stay silent at most `seconds`, before its answer's head and between two reads
    /// of its body (connecting: at most 10 s).
    private init(silentAtMost seconds: Int) {
        self.init(
            client: HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: .init(
                    timeout: .init(connect: .seconds(Int64(min(10, seconds))), read: .seconds(Int64(seconds)))
                )
            ),
            headTimeout: .seconds(Int64(seconds))
        )
    }

    /// The transport for a provider that may stay silent at most `seconds`: one client per distinct limit, kept for
    /// the process's life; 120 s is ``shared``.
    public static func silentAtMost(seconds: Int) -> HTTPTransport {
        guard seconds != 120 else { return shared }
        return byTimeout.withLock { clients in
            if let transport = clients[seconds] { return transport }
            let transport = HTTPTransport(silentAtMost: seconds)
            clients[seconds] = transport
            return transport
        }
    }

    private static let byTimeout = Mutex<[Int: HTTPTransport]>([:])

    /// The silence the transport allows, in whole seconds, as the error says it.
    var timeoutSeconds: Int { Int(headTimeout.nanoseconds / 1_000_000_000) }

    /// What the client's `error` means to the router: the caller's cancellation stays one, a provider that took the
    /// request and went silent (no head, or no next piece of the body, in time) is
    /// ``ProviderError/timedOut(provider:seconds:)``, anything else (a connection refused, reset or not made in time,
    /// which a retry may well get) a transport failure.
    func failure(_ error: any Error, provider: String) -> any Error {
        if error is CancellationError { return CancellationError() }
        if let error = error as? HTTPClientError, [.deadlineExceeded, .readTimeout].contains(error) {
            return ProviderError.timedOut(provider: provider, seconds: timeoutSeconds)
        }
        return ProviderError.transport(provider: provider, message: "\(error)")
    }

    /// POSTs JSON and returns the response once its head has arrived; non-2xx answers become ``ProviderError``s.
    private func post(
        provider: String,
        url: String,
        headers: [(String, String)],
        body: [UInt8]
    ) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: headTimeout)
        } catch {
            throw failure(error, provider: provider)
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let bytes = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            throw Self.error(provider: provider, status: status, headers: response.headers, body: bytes)
        }
        return response
    }

    /// POSTs JSON and feeds each server-sent event to `onEvent`.
    ///
    /// Returns true when the stream ended cleanly between events, false when it was cut mid-event. An answer sent
    /// whole (`application/json`) instead is refused with a clear ``ProviderError/invalidResponse(provider:message:)``.
    func streamEvents(
        provider: String,
        url: String,
        headers: [(String, String)],
        body: JSONValue,
        onEvent: (ServerSentEvent) async throws -> Void
    ) async throws -> Bool {
        try await streamEvents(
            provider: provider,
            url: url,
            headers: headers,
            encoded: body.canonicalBytes,
            whole: { _ in
                throw ProviderError.invalidResponse(
                    provider: provider,
                    message: "it answered with JSON, not the event stream it was asked for"
                )
            },
            onEvent: onEvent
        )
    }

    /// The same, with the body already encoded (a caller that also measures it encodes it once).
    ///
    /// A server may answer a streamed request whole, as `application/json` (some OpenAI-compatible servers and
    /// proxies ignore `stream`): `whole` gets that answer, parsed.
    func streamEvents(
        provider: String,
        url: String,
        headers: [(String, String)],
        encoded body: [UInt8],
        whole: (JSONValue) async throws -> Void,
        onEvent: (ServerSentEvent) async throws -> Void
    ) async throws -> Bool {
        let response = try await post(
            provider: provider,
            url: url,
            headers: headers + [("Accept", "text/event-stream")],
            body: body
        )
        let type = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
        if type.hasPrefix("application/json") {
            try await whole(try await json(of: response, provider: provider))
            return true
        }
        if type.hasPrefix("text/html") {
            // A web page where an API was expected: a base_url that points at a site, a portal or a proxy's page.
            throw ProviderError.invalidResponse(
                provider: provider,
                message: "it answered with a web page (text/html), not an event stream; check its base_url"
            )
        }
        if !type.isEmpty && !type.hasPrefix("text/event-stream") {
            throw ProviderError.invalidResponse(
                provider: provider,
                message: "it answered with \(type.prefix(60)), not the event stream it was asked for"
            )
        }
        var parser = ServerSentEventParser()
        var received = 0
        do {
            for try await chunk in response.body {
                // A whole answer's limit, as for one not streamed: a server that streams without end (or without a
                // line end, which the parser would hold) fails the call instead of filling the gateway's memory.
                received += chunk.readableBytes
                guard received <= Self.maxAnswerBytes else {
                    throw ProviderError.invalidResponse(
                        provider: provider,
                        message: "the streamed answer is larger than \(Self.maxAnswerBytes >> 20) MiB"
                    )
                }
                for event in parser.feed(chunk.readableBytesView) {
                    do {
                        try await onEvent(event)
                    } catch {
                        throw Refused(error: error)
                    }
                }
            }
        } catch let refused as Refused {
            // The caller could not take an event (its own failure, not the connection's): it ends the call.
            throw refused.error
        } catch let error as ProviderError {
            throw error
        } catch {
            // The connection dropped mid-body: the caller decides what the partial stream means.
            guard case .transport = failure(error, provider: provider) as? ProviderError else {
                throw failure(error, provider: provider)
            }
            return false
        }
        return parser.finish()
    }

    /// What the caller's `onEvent` threw, told apart from the connection's own failures.
    private struct Refused: Error {
        let error: any Error
    }

    /// The most a provider's answer may be, streamed or not.
    static let maxAnswerBytes = 32 << 20

    /// POSTs JSON and returns the parsed JSON answer.
    func postJSON(provider: String, url: String, headers: [(String, String)], body: JSONValue) async throws -> JSONValue
    {
        try await json(
            of: try await post(provider: provider, url: url, headers: headers, body: body.canonicalBytes),
            provider: provider
        )
    }

    /// A response's body, read whole (at most ``maxAnswerBytes``) and parsed as JSON.
    private func json(of response: HTTPClientResponse, provider: String) async throws -> JSONValue {
        let bytes: ByteBuffer
        do {
            bytes = try await response.body.collect(upTo: Self.maxAnswerBytes)
        } catch is NIOTooManyBytesError {
            // It was reached: what it sent is not an answer this gateway takes.
            throw ProviderError.invalidResponse(
                provider: provider,
                message: "its answer is larger than \(Self.maxAnswerBytes >> 20) MiB"
            )
        } catch {
            throw failure(error, provider: provider)
        }
        do {
            return try JSONValue.parse(bytes.readableBytesView)
        } catch {
            throw ProviderError.invalidResponse(provider: provider, message: "response is not JSON: \(error)")
        }
    }

    /// Maps an HTTP error answer to the error the router acts on.
    static func error(provider: String, status: Int, headers: HTTPHeaders, body: ByteBuffer) -> ProviderError {
        let parsed = try? JSONValue.parse(body.readableBytesView)
        let message =
            parsed?["error"]?["message"]?.stringValue ?? parsed?["message"]?.stringValue
            ?? String(buffer: body).prefix(300).description
        switch status {
        case 401, 403, 404, 400, 422:
            return .configuration(provider: provider, status: status, message: message)
        case 429:
            return .rateLimited(provider: provider, retryAfter: retryAfter(headers), message: message)
        default:
            return .server(provider: provider, status: status, message: message)
        }
    }

    /// `Retry-After` in seconds (delta form, or an HTTP date).
    static func retryAfter(_ headers: HTTPHeaders) -> Double? {
        guard let value = headers.first(name: "retry-after")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Double(value), seconds >= 0 { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return max(0, date.timeIntervalSinceNow)
    }
}
