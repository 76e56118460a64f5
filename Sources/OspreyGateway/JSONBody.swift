import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OspreyCore

/// A request's JSON object body, read under the size limit and parsed strictly; ``Fields`` reads it with types.
struct JSONBody {
    let members: [String: JSONValue]

    /// Reads the body; an empty body is an empty object. Unknown fields are refused, so typos are not ignored.
    static func read(_ request: Request, maxBytes: Int, allowed: Set<String>) async throws -> JSONBody {
        let buffer = try await request.body.collect(upTo: maxBytes)
        if buffer.readableBytes == 0 { return JSONBody(members: [:]) }
        guard case .object(let members) = try JSONValue.parse(buffer.readableBytesView) else {
            throw APIError.badRequest("Request body must be a JSON object.")
        }
        if let unknown = members.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError.badRequest("Unknown field '\(unknown)'.")
        }
        return JSONBody(members: members)
    }
}

extension Response {
    /// A JSON response from any encodable value, in the shared wire format.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try WireFormat.encoder.encode(value)
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

extension Request {
    /// A query parameter parsed as a non-negative integer within `range`; 400 when it is not one.
    func intQuery(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = uri.queryParameters[name[...]] else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw APIError.badRequest(
                "Query parameter '\(name)' must be an integer in \(range.lowerBound)...\(range.upperBound)."
            )
        }
        return value
    }

    func stringQuery(_ name: String) -> String? {
        uri.queryParameters[name[...]].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// True when the client asked for server-sent events.
    var wantsEventStream: Bool {
        headers[.accept]?.contains("text/event-stream") ?? false
    }
}
