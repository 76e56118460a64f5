import Foundation

/// The Agent2Agent protocol's (v0.3) wire values both sides read: a message's text and a task's states.
public enum A2AWire {
    /// The protocol version Osprey speaks, on its agent card.
    public static let protocolVersion = "0.3.0"

    /// The states after which a task changes no more.
    public static let terminalStates: Set<String> = ["completed", "canceled", "failed", "rejected"]

    /// A JSON-RPC error code the specification names, with its meaning.
    public enum ErrorCode {
        public static let taskNotFound = -32001
        public static let taskNotCancelable = -32002
        public static let pushNotificationNotSupported = -32003
        public static let unsupportedOperation = -32004
        public static let contentTypeNotSupported = -32005
    }

    /// The text of a message's or artifact's parts: text parts as they are, data parts as canonical JSON, file
    /// parts by name and URI (their bytes are never inlined). Nil when `parts` is not an array of parts.
    public static func text(of parts: JSONValue?) -> String? {
        guard let items = parts?.arrayValue else { return nil }
        var lines: [String] = []
        for part in items {
            switch part["kind"]?.stringValue {
            case "text":
                guard let text = part["text"]?.stringValue else { return nil }
                lines.append(text)
            case "data":
                guard let data = part["data"] else { return nil }
                lines.append(data.canonicalJSON)
            case "file":
                let file = part["file"]
                let name = file?["name"]?.stringValue ?? "unnamed"
                lines.append("[file \(name)\(file?["uri"]?.stringValue.map { " at \($0)" } ?? "")]")
            default: return nil
            }
        }
        return lines.joined(separator: "\n")
    }

    /// What an answer (a task or a message) says: a task's artifacts, else its status message, else the last
    /// agent message of its history; a message's parts.
    public static func answer(of result: JSONValue) -> String {
        if result["kind"] == "message" { return text(of: result["parts"]) ?? "" }
        let artifacts = (result["artifacts"]?.arrayValue ?? []).compactMap { text(of: $0["parts"]) }
        if !artifacts.isEmpty { return artifacts.joined(separator: "\n") }
        if let status = text(of: result["status"]?["message"]?["parts"]), !status.isEmpty { return status }
        let history = result["history"]?.arrayValue ?? []
        return history.last(where: { $0["role"] == "agent" }).flatMap { text(of: $0["parts"]) } ?? ""
    }
}
