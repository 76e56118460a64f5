import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyGateway

/// The CLI's HTTP client of a running gateway: finds it and its token through the home.
struct GatewayClient {
    let baseURL: String
    let token: String

    /// `token` replaces the home's admin token (a narrower one, for a client such as an MCP host).
    init(home: Home, token: String? = nil) throws {
        let config = try OspreyConfig.load(from: home.configFile)
        var host = config.gateway.host
        var port = config.gateway.port
        // A running gateway holds the home's lock and records where it listens. Without it there is nothing
        // to connect to: say so at once rather than let the HTTP client retry until its deadline.
        guard let holder = HomeLock.holder(of: home.lockFile) else {
            throw CLIError(
                "the gateway is not running on \(home.root.path) (start it with `osprey gateway --home \(home.root.path)`)"
            )
        }
        if let recorded = holder["host"] { host = recorded }
        if let recorded = holder["port"].flatMap(Int.init) { port = recorded }
        if host == "0.0.0.0" { host = "127.0.0.1" }
        if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }
        self.baseURL = "http://\(host):\(port)"
        self.token = try token ?? home.readToken()
    }

    /// Sends a request and returns the parsed JSON body; a non-2xx answer becomes its error message.
    func request(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil) async throws -> JSONValue {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        // The gateway refuses state-changing requests that are not JSON, even bodiless ones.
        if body != nil || [.POST, .PUT, .PATCH].contains(method) {
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        if let body { request.body = .bytes(ByteBuffer(string: body.canonicalJSON)) }
        let response = try await execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let value = bytes.readableBytes == 0 ? JSONValue.null : try JSONValue.parse(bytes.readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else { throw Self.error(response.status, value) }
        return value
    }

    /// Streams a long-lived response (SSE or JSON Lines) chunk by chunk.
    func stream(
        _ path: String,
        body: JSONValue? = nil,
        headers: [(String, String)] = [],
        onChunk: (ByteBuffer) async throws -> Void
    ) async throws {
        var request = HTTPClientRequest(url: baseURL + path)
        if let body {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.canonicalJSON))
        }
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await execute(request, timeout: .hours(24 * 365))
        guard (200..<300).contains(Int(response.status.code)) else {
            let bytes = try await response.body.collect(upTo: 1 << 20)
            throw Self.error(response.status, (try? JSONValue.parse(bytes.readableBytesView)) ?? .null)
        }
        for try await chunk in response.body { try await onChunk(chunk) }
    }

    private func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
        do {
            return try await HTTPClient.shared.execute(request, timeout: timeout)
        } catch let error as HTTPClientError where error == .connectTimeout || error == .remoteConnectionClosed {
            throw CLIError("cannot reach the gateway at \(baseURL) (is `osprey gateway` running?)")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if "\(error)".contains("connect") || "\(error)".contains("Connection refused") {
                throw CLIError("cannot reach the gateway at \(baseURL) (is `osprey gateway` running?)")
            }
            throw CLIError("request to \(baseURL) failed: \(error)")
        }
    }

    static func error(_ status: HTTPResponseStatus, _ body: JSONValue) -> CLIError {
        let message = body["error"]?["message"]?.stringValue ?? "HTTP \(status.code)"
        return CLIError("\(message) (HTTP \(status.code))")
    }
}

/// Prints JSON for humans: sorted keys, two-space indent.
func printJSON(_ value: JSONValue) {
    let data = Data(value.canonicalJSON.utf8)
    if let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
        let pretty = try? JSONSerialization.data(
            withJSONObject: object,
            options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]
        )
    {
        print(String(decoding: pretty, as: UTF8.self))
    } else {
        print(value.canonicalJSON)
    }
}

extension GatewayClient {
    /// POSTs a new resource (a session, task, memory ...) and returns the id the gateway gave it.
    func create(_ path: String, _ body: [String: JSONValue]) async throws -> String {
        try await request(.POST, path, body: .object(body))["id"]?.stringValue ?? ""
    }
}
