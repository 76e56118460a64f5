/// One server-sent event as received: the `event`, `data` (lines joined by "\n") and `id` fields.
public struct ServerSentEvent: Hashable, Sendable {
    public var event: String?
    public var data: String
    public var id: String?
    public var retry: Int?

    public init(event: String? = nil, data: String, id: String? = nil, retry: Int? = nil) {
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry
    }

    /// The wire form, ending with the blank line that dispatches it.
    public var encoded: String {
        var output = ""
        if let id { output += "id: \(id)\n" }
        if let event { output += "event: \(event)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
            output += "data: \(line)\n"
        }
        return output + "\n"
    }
}

/// An incremental `text/event-stream` parser (WHATWG rules): feed it bytes as they arrive, in chunks of any size.
///
/// Handles CR, LF and CRLF line ends (also split across chunks), multi-line data, comments, and fields with no
/// value. An event with no data is not dispatched. A stream that ends mid-event yields nothing for that event:
/// call ``finish()`` to learn whether bytes were left over.
public struct ServerSentEventParser: Sendable {
    private var line: [UInt8] = []
    private var sawCR = false
    private var eventType: String?
    private var dataLines: [String] = []
    private var hasData = false
    private var eventID: String?
    private var retry: Int?
    /// The last `id` seen, kept across events as the spec says (used for `Last-Event-ID`).
    public private(set) var lastEventID: String?

    public init() {}

    /// Parses another chunk and returns the events it completed, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        for byte in bytes {
            if sawCR {
                sawCR = false
                if byte == 0x0A { continue }
            }
            if byte == 0x0D {
                sawCR = true
                if let event = endLine() { events.append(event) }
            } else if byte == 0x0A {
                if let event = endLine() { events.append(event) }
            } else {
                line.append(byte)
            }
        }
        return events
    }

    /// True when the stream ended cleanly, between events; false when an event was cut off.
    public func finish() -> Bool {
        line.isEmpty && !hasData && eventType == nil
    }

    private mutating func endLine() -> ServerSentEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty { return dispatch() }
        if line.first == UInt8(ascii: ":") { return nil }
        let field: String
        var value: String
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = String(decoding: line[..<colon], as: UTF8.self)
            var start = colon + 1
            if start < line.count, line[start] == 0x20 { start += 1 }
            value = String(decoding: line[start...], as: UTF8.self)
        } else {
            field = String(decoding: line, as: UTF8.self)
            value = ""
        }
        switch field {
        case "event": eventType = value
        case "data":
            dataLines.append(value)
            hasData = true
        case "id":
            if !value.contains("\0") {
                eventID = value
                lastEventID = value
            }
        case "retry":
            if let number = Int(value), number >= 0 { retry = number }
        default:
            value = ""
        }
        return nil
    }

    private mutating func dispatch() -> ServerSentEvent? {
        defer {
            eventType = nil
            dataLines.removeAll()
            hasData = false
            eventID = nil
            retry = nil
        }
        guard hasData else { return nil }
        return ServerSentEvent(
            event: eventType,
            data: dataLines.joined(separator: "\n"),
            id: eventID ?? lastEventID,
            retry: retry
        )
    }
}
