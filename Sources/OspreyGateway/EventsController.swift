import AsyncAlgorithms
import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OspreyCore
import OspreyStore
import ServiceLifecycle
import Synchronization

/// `/api/events` (paged query), `/api/events/stream` (live SSE, resumable with `Last-Event-ID`) and
/// `/api/audit/verify`.
struct EventsController {
    let ledger: Ledger
    let authenticator: Authenticator
    /// The SSE streams open now (`osprey_open_streams{door="sse"}`).
    let streams: CoreMetrics.Meter
    /// The streams each token holds open: each stream takes one.
    let quota: StreamQuota
    /// Every stream sends the same bytes for an event: encoded once, whichever stream asks first.
    let frames = FrameCache()

    /// How often an idle stream sends a comment, so proxies keep it open and dead clients are noticed.
    static let keepAlive: Duration = .seconds(15)

    var operations: [Operation] { [list, verify] }

    func add(to routes: inout RouteTable) {
        routes.bind(.get, "/api/events", list, query: List.fields)
        // A live stream is not a request with one answer: it stays a route of its own.
        routes.on(.get, "/api/events/stream", .role(.viewer), stream)
        routes.bind(.get, "/api/audit/verify", verify)
    }

    static func filter(_ request: Request) -> EventFilter {
        EventFilter(
            type: request.stringQuery("type"),
            session: request.stringQuery("session").map { Session.ID($0) },
            task: request.stringQuery("task").map { TaskRecord.ID($0) }
        )
    }

    struct List: OperationRequest {
        static let fields: Set<String> = ["after", "limit", "type", "session", "task"]
        let after: Int
        let limit: Int
        let filter: EventFilter
        init(_ fields: Fields) throws {
            after = try fields.int("after", default: 0, range: 0...Int.max)
            limit = try fields.int("limit", default: 100, range: 1...1000)
            filter = EventFilter(
                type: try fields.optionalString("type"),
                session: try fields.optionalString("session").map { Session.ID($0) },
                task: try fields.optionalString("task").map { TaskRecord.ID($0) }
            )
        }
    }

    var list: Operation {
        Operation("events.list", role: .viewer) { (request: List, _) in
            let events = try await ledger.events(after: request.after, filter: request.filter, limit: request.limit)
            return try JSONValue(encoding: EventPage(events: events, nextAfter: events.last?.seq ?? request.after))
        }
    }

    var verify: Operation {
        Operation("audit.verify", role: .viewer) { (_: NoFields, _) in
            try JSONValue(encoding: try await ledger.verify())
        }
    }

    /// Streams matching events after `Last-Event-ID` (or `?after=`), then live ones, until the client leaves.
    @Sendable func stream(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        var after = try request.intQuery("after", default: 0, range: 0...Int.max)
        if let header = request.headers[HTTPField.Name("Last-Event-ID")!] {
            guard let seq = Int(header), seq >= 0 else {
                throw APIError.badRequest("Last-Event-ID must be an event seq.")
            }
            after = seq
        }
        let filter = Self.filter(request)
        let hold = try quota.take(context.token)
        let start = after
        let ledger = self.ledger
        let authenticator = self.authenticator
        let frames = self.frames
        let token = context.token
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no"],
            body: ResponseBody { @concurrent writer in
                streams.increment()
                defer {
                    streams.decrement()
                    hold.release()
                }
                // A hand-over, not a buffer: the ledger is read no faster than the client takes its frames, so a
                // client that stops reading holds one frame here (and the bus its bounded backlog, refilled from the
                // database later), not every event since `after`.
                let chunks = AsyncChannel<ByteBuffer>()
                let revoked = Latch()  // set once the stream's token is revoked or expires
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        defer { chunks.finish() }
                        try await ledger.follow(after: start, filter: filter) { event in
                            try Task.checkCancellation()
                            await chunks.send(frames.frame(for: event))
                        }
                    }
                    group.addTask {
                        while true {
                            try await Task.sleep(for: Self.keepAlive)
                            await chunks.send(ByteBuffer(string: ": keep-alive\n\n"))
                        }
                    }
                    if let token {
                        // The stream ends the moment its token is revoked or expires, like the WebSocket: nothing
                        // taken after that is written.
                        group.addTask {
                            if await authenticator.waitUntilEnded(token, bus: ledger.bus) {
                                revoked.set()
                                chunks.finish()
                            }
                        }
                    }
                    try await writer.write(ByteBuffer(string: ": connected\n\n"))
                    // A write fails once the client has gone; that ends the loop and cancels both producers.
                    // Graceful shutdown ends the stream too, so an open subscriber never holds the server up.
                    try await withGracefulShutdownHandler {
                        for await chunk in chunks {
                            if revoked.isSet { break }
                            try await writer.write(chunk)
                        }
                    } onGracefulShutdown: {
                        chunks.finish()
                    }
                    group.cancelAll()
                }
                if revoked.isSet { try await writer.write(ByteBuffer(string: "event: revoked\ndata: {}\n\n")) }
                try await writer.finish(nil)
            }
        )
    }

    /// The last few hundred events' SSE frames, by seq.
    final class FrameCache: Sendable {
        private static let slots = 512
        private let cache = Mutex<[(seq: Int, frame: ByteBuffer)?]>(Array(repeating: nil, count: slots))

        /// A frame larger than this (a long message, a big tool result) is made for each stream that sends it and
        /// not kept: the cache holds at most `slots` × 64 KiB, whatever the events.
        static let largest = 64 * 1024

        func frame(for event: Event) -> ByteBuffer {
            let slot = event.seq % Self.slots
            if let cached = cache.withLock({ $0[slot] }), cached.seq == event.seq { return cached.frame }
            let frame = ByteBuffer(string: EventsController.frame(event))
            if frame.readableBytes <= Self.largest { cache.withLock { $0[slot] = (event.seq, frame) } }
            return frame
        }

        /// The bytes of the frames kept now.
        var keptBytes: Int { cache.withLock { $0.reduce(0) { $0 + ($1?.frame.readableBytes ?? 0) } } }
    }

    static func frame(_ event: Event) -> String {
        ServerSentEvent(event: event.type.rawValue, data: event.envelope.canonicalJSON, id: String(event.seq)).encoded
    }

    struct EventPage: Encodable {
        var events: [Event]
        var nextAfter: Int
        private enum CodingKeys: String, CodingKey {
            case events
            case nextAfter = "next_after"
        }
    }
}
