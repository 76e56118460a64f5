public import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// An in-process HTTP server that answers each POST with the next scripted response, byte for byte as a
/// real provider would send it (status, headers, SSE chunks, optional pauses, a connection cut), and records
/// every request. Providers are tested against it, and so is the gateway process end to end.
public final class ScriptedHTTPServer: Sendable {
    /// One scripted answer.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        /// Body chunks, written in order with a flush between them.
        public var chunks: [String]
        /// Pause before each chunk after the first.
        public var pause: Duration
        /// Close the connection after the chunks instead of ending the body properly.
        public var cut: Bool

        public init(
            status: Int = 200,
            headers: [String: String] = [:],
            chunks: [String],
            pause: Duration = .zero,
            cut: Bool = false
        ) {
            self.status = status
            self.headers = headers
            self.chunks = chunks
            self.pause = pause
            self.cut = cut
        }

        /// A 200 `text/event-stream` response of these SSE `data:` payloads.
        public static func sse(_ data: [String], events: [String?]? = nil, cut: Bool = false) -> Response {
            let chunks = data.enumerated().map { index, payload in
                let name = events?[index].map { "event: \($0)\n" } ?? ""
                return "\(name)data: \(payload)\n\n"
            }
            return Response(headers: ["Content-Type": "text/event-stream"], chunks: chunks, cut: cut)
        }

        /// A JSON error answer.
        public static func error(_ status: Int, _ body: String, headers: [String: String] = [:]) -> Response {
            Response(
                status: status,
                headers: headers.merging(["Content-Type": "application/json"]) { $1 },
                chunks: [body]
            )
        }
    }

    /// A request as received.
    public struct Received: Sendable {
        public var path: String
        public var headers: [String: String]
        public var body: String
    }

    private let script: Mutex<[Response]>
    private let received = Mutex<[Received]>([])
    private let portBox = Mutex<Int?>(nil)
    /// Answered when the script runs out.
    private let fallback: Response?

    public init(responses: [Response], fallback: Response? = nil) {
        script = Mutex(responses)
        self.fallback = fallback
    }

    public var requests: [Received] { received.withLock { $0 } }
    public var port: Int { portBox.withLock { $0 } ?? 0 }
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Adds responses to the end of the script.
    public func enqueue(_ responses: [Response]) { script.withLock { $0 += responses } }

    /// Runs the server for the duration of `body`, then stops it.
    public func run<T: Sendable>(_ body: @Sendable (ScriptedHTTPServer) async throws -> T) async throws -> T {
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> HummingbirdCore.Response = { request, _ in
            var request = request
            let bytes = try await request.collectBody(upTo: 16 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
            self.received.withLock {
                $0.append(Received(path: request.uri.path, headers: headers, body: String(buffer: bytes)))
            }
            let next = self.script.withLock { $0.isEmpty ? nil : $0.removeFirst() } ?? self.fallback
            guard let next else { return HummingbirdCore.Response(status: .internalServerError) }
            var fields = HTTPFields()
            // Scripted header names are valid tokens, written by the tests themselves.
            for (name, value) in next.headers { fields[HTTPField.Name(name)!] = value }
            return HummingbirdCore.Response(
                status: HTTPResponse.Status(code: next.status),
                headers: fields,
                body: ResponseBody { writer in
                    for (index, chunk) in next.chunks.enumerated() {
                        if index > 0 && next.pause > .zero { try await Task.sleep(for: next.pause) }
                        try await writer.write(ByteBuffer(string: chunk))
                    }
                    if next.cut { throw CancellationError() }  // drops the connection mid-body
                    try await writer.finish(nil)
                }
            )
        }
        router.post("**", use: handler)
        router.get("**", use: handler)
        let (ready, readySignal) = AsyncStream<Void>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                self.portBox.withLock { $0 = channel.localAddress?.port }
                readySignal.finish()
            },
            logger: Logger(label: "scripted-http", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        return try await whileServing(ready: ready, serve: { try await app.run() }, then: { try await body(self) })
    }
}

/// Runs a server (`run`) beside `body` until `body` ends, then stops it; `body` starts once `ready` finishes (the
/// server listens).
func whileServing<T: Sendable>(
    ready: AsyncStream<Void>,
    serve run: @escaping @Sendable () async throws -> Void,
    then body: () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await run()
            return nil
        }
        for await _ in ready {}
        defer { group.cancelAll() }
        return try await body()
    }
}
