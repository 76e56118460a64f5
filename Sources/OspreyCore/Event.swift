import Crypto
import Foundation

/// One immutable entry of the ledger: something that happened, hash-chained to the entry before it.
///
/// `hash = SHA-256(canonical JSON of every field but hash)`; the first event's `prevHash` is 64 zeros.
public struct Event: Hashable, Sendable {
    public typealias ID = Identifier<Event>

    public var seq: Int
    public var id: ID
    /// RFC 3339 UTC with milliseconds, kept as text so hashing never depends on date formatting.
    public var ts: String
    public var type: Kind
    public var actor: Principal
    public var session: Session.ID?
    public var task: BackgroundTask.ID?
    public var payload: JSONValue
    public var prevHash: String
    public var hash: String

    public init(
        seq: Int,
        id: ID,
        ts: String,
        type: Kind,
        actor: Principal,
        session: Session.ID?,
        task: BackgroundTask.ID?,
        payload: JSONValue,
        prevHash: String,
        hash: String
    ) {
        self.seq = seq
        self.id = id
        self.ts = ts
        self.type = type
        self.actor = actor
        self.session = session
        self.task = task
        self.payload = payload
        self.prevHash = prevHash
        self.hash = hash
    }

    /// The hash of the first event's predecessor.
    public static let genesisHash = String(repeating: "0", count: 64)

    /// Every field but `hash`, as the JSON object that is hashed.
    public var hashedFields: JSONValue {
        .object([
            "seq": .int(seq),
            "id": .string(id.rawValue),
            "ts": .string(ts),
            "type": .string(type.rawValue),
            "actor": .string(actor.rawValue),
            "session": session.map { .string($0.rawValue) } ?? .null,
            "task": task.map { .string($0.rawValue) } ?? .null,
            "payload": payload,
            "prev_hash": .string(prevHash),
        ])
    }

    /// The hash these fields should carry.
    public var computedHash: String { Self.sha256Hex(hashedBytes()) }

    /// `hashedFields.canonicalBytes`, written straight from the fields (the keys in their sorted order), with the
    /// payload's canonical bytes when the caller already has them: the ledger writes those to the database too.
    public func hashedBytes(payloadJSON: [UInt8]? = nil) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(320 + (payloadJSON?.count ?? 256))
        func key(_ name: StaticString) {
            output.append(output.isEmpty ? UInt8(ascii: "{") : UInt8(ascii: ","))
            output.append(UInt8(ascii: "\""))
            output.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            output.append(contentsOf: "\":".utf8)
        }
        func string(_ value: String?) {
            if let value { JSONValue.writeString(value, into: &output) } else { output.append(contentsOf: "null".utf8) }
        }
        key("actor")
        string(actor.rawValue)
        key("id")
        string(id.rawValue)
        key("payload")
        if let payloadJSON { output.append(contentsOf: payloadJSON) } else { payload.writeCanonical(into: &output) }
        key("prev_hash")
        string(prevHash)
        key("seq")
        output.append(contentsOf: String(seq).utf8)
        key("session")
        string(session?.rawValue)
        key("task")
        string(task?.rawValue)
        key("ts")
        string(ts)
        key("type")
        string(type.rawValue)
        output.append(UInt8(ascii: "}"))
        return output
    }

    /// The full envelope, as sent on the wire and exported.
    public var envelope: JSONValue {
        guard case .object(var members) = hashedFields else { return hashedFields }
        members["hash"] = .string(hash)
        return .object(members)
    }

    /// Rebuilds an event from its envelope; nil when a field is missing or of the wrong type.
    public init?(envelope: JSONValue) {
        guard let seq = envelope["seq"]?.intValue, let id = envelope["id"]?.stringValue,
            let ts = envelope["ts"]?.stringValue, let type = envelope["type"]?.stringValue,
            let actor = envelope["actor"]?.stringValue, let payload = envelope["payload"],
            let prevHash = envelope["prev_hash"]?.stringValue, let hash = envelope["hash"]?.stringValue
        else { return nil }
        self.init(
            seq: seq,
            id: ID(id),
            ts: ts,
            type: Kind(rawValue: type),
            actor: Principal(rawValue: actor),
            session: envelope["session"]?.stringValue.map { Session.ID($0) },
            task: envelope["task"]?.stringValue.map { BackgroundTask.ID($0) },
            payload: payload,
            prevHash: prevHash,
            hash: hash
        )
    }

    /// Lowercase hex SHA-256 of a string's UTF-8 bytes.
    public static func sha256Hex(_ text: String) -> String { sha256Hex(Array(text.utf8)) }

    /// SHA-256 of bytes (an event's canonical bytes), as 64 hex digits.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).withUnsafeBytes { String.hex($0) }
    }
}

extension Event: Codable {
    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        guard let event = Event(envelope: value) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "Not an event"))
        }
        self = event
    }

    public func encode(to encoder: any Encoder) throws {
        try envelope.encode(to: encoder)
    }
}

/// What a caller asks the ledger to record; the ledger assigns seq, id, time and hashes.
public struct EventDraft: Hashable, Sendable {
    public var type: Event.Kind
    public var actor: Principal
    public var session: Session.ID?
    public var task: BackgroundTask.ID?
    public var payload: JSONValue

    /// The background task the current code runs for, if any: a draft made inside it carries its id.
    ///
    /// Bound once where a task's run starts (the supervisor, an agent with a task id), so every event the
    /// run produces (model calls, tool calls, policy decisions, messages, approvals) knows its task without
    /// each producer having to be told.
    @TaskLocal public static var currentTask: BackgroundTask.ID?

    /// A draft; `task` defaults to the task the caller runs for (``currentTask``).
    public init(
        type: Event.Kind,
        actor: Principal = .system,
        session: Session.ID? = nil,
        task: BackgroundTask.ID? = nil,
        payload: JSONValue = [:]
    ) {
        self.type = type
        self.actor = actor
        self.session = session
        self.task = task ?? Self.currentTask
        self.payload = payload
    }
}

extension Array where Element == UInt8 {
    /// The bytes `hex` spells (two digits a byte, either case), or nil when it is not hexadecimal.
    public init?(hexString hex: String) {
        let digits = [UInt8](hex.utf8)
        guard digits.count.isMultiple(of: 2) else { return nil }
        func nibble(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var output: [UInt8] = []
        output.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            output.append(high << 4 | low)
        }
        self = output
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal, two digits a byte.
    public var hexString: String {
        let bytes = withContiguousStorageIfAvailable { String.hex($0) }
        return bytes ?? String.hex(Array(self))
    }
}

extension String {
    /// Lowercase hexadecimal of `bytes`, written straight into the string's storage (a hash's 64 digits, an id's
    /// 32: every event makes several).
    public static func hex<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { output in
            var index = 0
            for byte in bytes {
                output[index] = hexDigit(byte >> 4)
                output[index + 1] = hexDigit(byte & 0x0F)
                index += 2
            }
            return index
        }
    }

    /// The lowercase hexadecimal digit of `nibble` (0-15).
    @inline(__always) static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
    }
}
