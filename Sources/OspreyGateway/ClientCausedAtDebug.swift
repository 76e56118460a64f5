import Logging

/// Passes every entry on to the handler it wraps, except hummingbird-websocket's "Error handling upgrade result",
/// which goes at debug level. That entry is logged at error level whenever a connection's upgrade negotiation ends
/// without a request: a client that sent something unparseable, or one the edge refused (a foreign origin, a bad
/// token, a malformed head), so any client could fill the gateway's error log at will. The refusals are recorded
/// where they are made (`auth.failed` events, the edge's warnings); the library's `Value` keeps its future to itself,
/// so the entry is recognised by its text (a renamed entry would be logged at error level again, as before).
struct ClientCausedAtDebug: LogHandler {
    static let message = "Error handling upgrade result"
    var inner: any LogHandler

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if event.level >= .error && event.message.description == Self.message {
            event.level = .debug
            // The logger checked the entry's first level against the handler's, not this one.
            guard inner.logLevel <= .debug else { return }
        }
        inner.log(event: event)
    }
}
