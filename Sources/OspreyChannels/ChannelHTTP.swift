public import AsyncHTTPClient
public import Foundation
import Logging
import NIOCore
public import NIOHTTP1
public import OspreyCore

/// A platform's HTTP API through AsyncHTTPClient: JSON in and out, the platform's 429 `retry_after` honoured.
///
/// A 429 is retried after the wait the platform asks for (Telegram's `parameters.retry_after`, Discord's
/// `retry_after`, Matrix's `retry_after_ms`, else `Retry-After`), up to ``maxRetries`` times and ``maxWait`` a time.
/// Errors never carry the URL: Telegram's holds the bot's token.
public struct ChannelHTTP: Sendable {
    let client: HTTPClient
    var headers: [(String, String)]
    public var maxRetries = 5
    public var maxWait: Duration = .seconds(60)
    /// Answers larger than this are refused.
    static let maxBody = 8 << 20

    public init(client: HTTPClient = .shared, headers: [(String, String)] = []) {
        self.client = client
        self.headers = headers
    }

    /// Sends `body` (if any) as JSON and answers the JSON the platform sent back.
    public func json(
        _ method: HTTPMethod,
        _ url: String,
        body: JSONValue? = nil,
        timeout: Duration = .seconds(30),
        label: String
    ) async throws -> JSONValue {
        var attempt = 0
        while true {
            var request = HTTPClientRequest(url: url)
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body.canonicalJSON))
            }
            let response: (status: HTTPResponseStatus, headers: HTTPHeaders)
            let bytes: ByteBuffer
            do {
                let client = self.client
                (response, bytes) = try await Self.within(timeout) { [request] in
                    let response = try await client.execute(
                        request,
                        timeout: .nanoseconds(Int64(timeout.timeInterval * 1e9))
                    )
                    return ((response.status, response.headers), try await response.body.collect(upTo: Self.maxBody))
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw PlatformError("\(label): \(Self.transportError(error))")
            }
            let answer = (try? JSONValue.parse(bytes.readableBytesView)) ?? .null
            if response.status == .tooManyRequests {
                attempt += 1
                guard attempt <= maxRetries else {
                    throw PlatformError(status: 429, "\(label): still rate limited after \(maxRetries) retries")
                }
                try await Task.sleep(for: min(Self.retryAfter(answer, response.headers), maxWait))
                continue
            }
            guard (200..<300).contains(Int(response.status.code)), answer["ok"] != false else {
                let reason =
                    answer["description"]?.stringValue ?? answer["message"]?.stringValue
                    ?? answer["error"]?.stringValue ?? "HTTP \(response.status.code)"
                throw PlatformError(status: Int(response.status.code), "\(label): \(reason)")
            }
            return answer
        }
    }

    /// A file's bytes, refused past `limit` (announced by `Content-Length` or counted as it arrives), all of them
    /// within `timeout`.
    public func download(
        _ url: String,
        limit: Int,
        label: String,
        timeout: Duration = .seconds(60)
    ) async throws -> Data {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let client = self.client
        do {
            return try await Self.within(timeout) { [request] in
                let response = try await client.execute(
                    request,
                    timeout: .nanoseconds(Int64(timeout.timeInterval * 1e9))
                )
                guard response.status == .ok else {
                    throw PlatformError(status: Int(response.status.code), "\(label): HTTP \(response.status.code)")
                }
                if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > limit {
                    throw PlatformError(status: 413, "\(label): \(length) bytes, over the \(limit)-byte cap")
                }
                return Data(try await response.body.collect(upTo: limit).readableBytesView)
            }
        } catch let error as PlatformError {
            throw error
        } catch is NIOTooManyBytesError {
            throw PlatformError(status: 413, "\(label): over the \(limit)-byte cap")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw PlatformError("\(label): \(Self.transportError(error))")
        }
    }

    /// An exchange that outlived its time.
    struct Stalled: Error {}

    /// Runs one exchange, its whole answer included, within `limit`, so that a platform (or a proxy before it) that
    /// stalls within an answer's body cannot hold the channel's loop, and one of the 8 connections a host gets.
    static func within<T: Sendable>(
        _ limit: Duration,
        _ exchange: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        guard let value = try await withTimeLimit(limit, exchange) else { throw Stalled() }
        return value
    }

    /// The wait a 429 asks for.
    static func retryAfter(_ answer: JSONValue, _ headers: HTTPHeaders) -> Duration {
        if let seconds = answer["parameters"]?["retry_after"]?.doubleValue ?? answer["retry_after"]?.doubleValue {
            return .milliseconds(Int(max(0, seconds) * 1000))
        }
        if let milliseconds = answer["retry_after_ms"]?.intValue { return .milliseconds(max(0, milliseconds)) }
        if let seconds = headers.first(name: "retry-after").flatMap(Double.init) {
            return .milliseconds(Int(max(0, seconds) * 1000))
        }
        return .seconds(1)
    }

    /// A transport failure without the request's URL.
    static func transportError(_ error: any Error) -> String {
        if error is Stalled { return "timed out" }
        if let error = error as? HTTPClientError {
            if error == .deadlineExceeded || error == .readTimeout { return "timed out" }
            if error == .connectTimeout { return "connection timed out" }
            return "request failed (\(String(describing: error).prefix(120)))"
        }
        return "connection failed (\(type(of: error)))"
    }
}
