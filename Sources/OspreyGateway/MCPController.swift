import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OspreyCore
import OspreyMCP
import OspreyStore
import Synchronization

/// `/api/mcp`: Osprey as an MCP server over Streamable HTTP (protocol 2025-06-18), for MCP hosts that connect by URL.
///
/// It is one more door on the one operation table: each tool call is an operation called with the request's
/// token, so role and scope checks, validation, the policy and the ledger are the REST API's own. The route sits
/// under `/api`, behind the same Host and Origin checks, bearer tokens and lockout.
///
/// POST carries one JSON-RPC message: `initialize` opens a session and answers with its `Mcp-Session-Id`; every
/// later message must carry that id (400 without it, 404 for one that ended or never was) and the token that
/// opened it; a request is answered with `application/json`, a notification or response with 202. DELETE ends
/// the session. GET is 405: this server opens no stream of its own.
struct MCPController {
    let operations: [String: Operation]
    let maxBodyBytes: Int
    let sessions = MCPSessions()

    /// The open sessions, at most `limit`; the oldest is closed to make room.
    final class MCPSessions: Sendable {
        struct Entry {
            let session: MCPServerSession
            let tokenID: String?
        }
        private let table = Mutex<(entries: [String: Entry], order: [String])>(([:], []))
        let limit = 1000

        func open(_ entry: Entry) -> String {
            let id = "mcp_" + UUID().uuidString.lowercased()
            table.withLock { table in
                table.entries[id] = entry
                table.order.append(id)
                if table.order.count > limit { table.entries[table.order.removeFirst()] = nil }
            }
            return id
        }

        func get(_ id: String) -> Entry? { table.withLock { $0.entries[id] } }

        func close(_ id: String) -> Bool {
            table.withLock { table in
                table.order.removeAll { $0 == id }
                return table.entries.removeValue(forKey: id) != nil
            }
        }
    }

    func add(to routes: inout RouteTable) {
        routes.on(.post, "/api/mcp", .role(.viewer)) { request, context in try await post(request, context) }
        routes.on(.delete, "/api/mcp", .role(.viewer)) { request, context in
            guard let id = request.headers[Self.sessionHeader] else {
                throw APIError.badRequest("Header 'Mcp-Session-Id' is required.")
            }
            guard let entry = sessions.get(id), entry.tokenID == context.token?.id.rawValue, sessions.close(id) else {
                throw APIError(.notFound, "not_found", "No MCP session \(id).")
            }
            return Response(status: .noContent)
        }
    }

    static let sessionHeader = HTTPField.Name("Mcp-Session-Id")!

    func post(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
        let buffer = try await request.body.collect(upTo: maxBodyBytes)
        let message: JSONValue
        do {
            message = try JSONValue.parse(buffer.readableBytesView)
        } catch {
            return try Self.answer(
                [
                    "jsonrpc": "2.0", "id": .null,
                    "error": ["code": -32700, "message": .string("Parse error: \(error)")],
                ]
            )
        }
        let caller = Caller(token: context.token)
        var headers: HTTPFields = [:]
        let session: MCPServerSession
        if message["method"]?.stringValue == "initialize" {
            session = MCPServerSession(
                tools: tools(caller),
                version: Kernel.version,
                instructions: OspreyToolCatalog.instructions,
                send: { _ in }
            )
            headers[Self.sessionHeader] = sessions.open(.init(session: session, tokenID: context.token?.id.rawValue))
        } else {
            guard let id = request.headers[Self.sessionHeader] else {
                throw APIError.badRequest("Header 'Mcp-Session-Id' is required after initialize.")
            }
            // A session is its opener's: another token learns nothing about it, not even that it exists.
            guard let entry = sessions.get(id), entry.tokenID == context.token?.id.rawValue else {
                throw APIError(.notFound, "not_found", "No MCP session \(id): initialize again.")
            }
            session = entry.session
        }
        let isRequest = message["id"] != nil && message["method"] != nil
        guard isRequest || message.objectValue == nil else {
            session.receive(message)
            return Response(status: .accepted, headers: headers)
        }
        let reply: JSONValue = await withCheckedContinuation { continuation in
            let once = Mutex(false)
            session.receive(message) { answer in
                let first = once.withLock { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(returning: answer) }
            }
        }
        return try Self.answer(reply, headers: headers)
    }

    static func answer(_ message: JSONValue, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(
            status: .ok,
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: message.canonicalJSON))
        )
    }

    /// The catalog's tools, each a call of the operation table with the caller's token.
    func tools(_ caller: Caller) -> [MCPServerSession.ServedTool] {
        let operations = self.operations
        return OspreyToolCatalog.tools { name, fields in
            guard let operation = operations[name] else { throw MCPError.toolFailed("no operation \(name)") }
            do {
                return try await operation.call(Fields(json: fields), caller: caller)
            } catch let error as APIError {
                throw MCPError.toolFailed("\(error.code): \(error.message)")
            }
        }
    }
}
