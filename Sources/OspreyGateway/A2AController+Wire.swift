import Foundation
import HTTPTypes
import OspreyCore

/// The A2A door's wire values: its JSON-RPC errors and Osprey's tasks as A2A tasks and messages.
extension A2AController {
    /// A JSON-RPC failure, as the specification numbers it.
    struct Failure: Error {
        var code: Int
        var message: String
        var status: HTTPResponse.Status = .ok
        init(_ code: Int, _ message: String) {
            self.code = code
            self.message = message
        }

        /// An operation's error in A2A's terms: an unknown task is -32001, one that cannot be cancelled -32002,
        /// bad parameters -32602; a refused role keeps its HTTP status.
        static func from(_ error: any Error) -> Failure {
            if let failure = error as? Failure { return failure }
            let api = APIError.answering(error)
            var failure: Failure
            switch api.status {
            case .notFound: failure = Failure(A2AWire.ErrorCode.taskNotFound, api.message)
            case .conflict: failure = Failure(A2AWire.ErrorCode.taskNotCancelable, api.message)
            case .badRequest, .contentTooLarge: failure = Failure(-32602, "Invalid params: \(api.message)")
            case .unauthorized, .forbidden:
                failure = Failure(-32600, api.message)
                failure.status = api.status
            default: failure = Failure(-32603, api.message)
            }
            return failure
        }
    }

    static func taskID(_ params: JSONValue) throws -> String {
        guard let id = params["id"]?.stringValue, !id.isEmpty else {
            throw Failure(-32602, "Invalid params: params.id (a task id) is required")
        }
        return id
    }

    static func historyLength(_ params: JSONValue) throws -> Int? {
        guard let value = params["historyLength"], value != .null else { return nil }
        guard let length = value.intValue, length >= 0 else {
            throw Failure(-32602, "Invalid params: historyLength must be an integer, 0 or more")
        }
        return length
    }

    /// A task's A2A state: queued is `submitted`, running is `working`, cancelled is `canceled`.
    static func state(_ task: JSONValue) throws -> String {
        switch task["status"]?.stringValue {
        case "queued": return "submitted"
        case "running": return "working"
        case "completed": return "completed"
        case "failed": return "failed"
        case "cancelled": return "canceled"
        default: throw Failure(-32603, "a task without a status")
        }
    }

    static func message(_ text: String, role: String, task: String, context: JSONValue, id: String? = nil) -> JSONValue
    {
        [
            "kind": "message", "messageId": .string(id ?? "msg_" + UUID().uuidString.lowercased()),
            "role": .string(role), "parts": [["kind": "text", "text": .string(text)]], "taskId": .string(task),
            "contextId": context,
        ]
    }

    /// An Osprey task (its API form) as an A2A task: the instructions and the answer as its history, the answer as
    /// its artifact, a failure's error as its status message, and Osprey's own facts under `metadata.osprey`.
    static func task(_ task: JSONValue, historyLength: Int? = nil) throws -> JSONValue {
        guard let id = task["id"]?.stringValue else { throw Failure(-32603, "a task without an id") }
        let context = JSONValue.string(task["context"]?.stringValue ?? id)
        let state = try state(task)
        let time =
            task["finished_at"]?.stringValue ?? task["started_at"]?.stringValue ?? task["created_at"]?.stringValue
        var status: [String: JSONValue] = ["state": .string(state)]
        if let time { status["timestamp"] = .string(time) }
        if state == "failed" || state == "canceled", let error = task["error"]?.stringValue {
            status["message"] = message(error, role: "agent", task: id, context: context, id: "\(id)-status")
        }
        var history = [
            message(task["instructions"]?.stringValue ?? "", role: "user", task: id, context: context, id: "\(id)-ask")
        ]
        var answer: [String: JSONValue] = [
            "kind": "task", "id": .string(id), "contextId": context, "status": .object(status),
            "metadata": [
                "osprey": [
                    "agent": task["agent"] ?? .null, "session": task["session"] ?? .null,
                    "tokens": task["tokens"] ?? 0, "cost_usd": task["cost_usd"] ?? 0,
                    "tainted": task["tainted"] ?? false,
                ]
            ],
        ]
        if let result = task["result"]?.stringValue {
            history.append(message(result, role: "agent", task: id, context: context, id: "\(id)-answer"))
            answer["artifacts"] = [
                [
                    "artifactId": .string("\(id)-answer"), "name": "answer",
                    "parts": [["kind": "text", "text": .string(result)]],
                ]
            ]
        }
        if let historyLength { history = Array(history.suffix(historyLength)) }
        answer["history"] = .array(history)
        return .object(answer)
    }
}
