import HTTPTypes
import Hummingbird
import NIOCore
import OspreyCore

/// JSON-RPC 2.0 messages as the gateway's JSON-RPC doors (MCP, A2A) write them.
enum JSONRPC {
    /// The answer a request gets instead of being handled (its body is not JSON).
    struct Refusal: Error {
        let response: Response
    }

    /// The request's body as one JSON value; text that is not JSON is refused with the -32700 answer.
    static func message(of request: Request, upTo maxBytes: Int) async throws -> JSONValue {
        let buffer = try await request.body.collect(upTo: maxBytes)
        do {
            return try JSONValue.parse(buffer.readableBytesView)
        } catch {
            throw Refusal(response: answer(self.error(.null, -32700, "Parse error: \(error)")))
        }
    }

    static func error(_ id: JSONValue, _ code: Int, _ message: String) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "error": ["code": .int(code), "message": .string(message)]]
    }

    static func result(_ id: JSONValue, _ result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "result": result]
    }

    /// One message as a JSON response.
    static func answer(
        _ message: JSONValue,
        status: HTTPResponse.Status = .ok,
        headers: HTTPFields = [:]
    ) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(
            status: status,
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: message.canonicalJSON))
        )
    }
}
