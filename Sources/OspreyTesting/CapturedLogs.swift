public import Logging
import Synchronization

/// What a component logged, kept for a test to read: hand ``logger`` to the component, read ``entries`` after.
public final class CapturedLogs: Sendable {
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: Logger.Metadata
    }

    private let storage = Mutex<[Entry]>([])
    /// The lowest level kept (and passed on by the logger, so lower levels cost nothing).
    public let level: Logger.Level

    public init(level: Logger.Level = .debug) { self.level = level }

    /// A logger whose every entry at ``level`` or above is kept here.
    public var logger: Logger {
        Logger(label: "captured") { _ in Handler(logs: self, logLevel: self.level) }
    }

    /// The entries so far, in order.
    public var entries: [Entry] { storage.withLock { $0 } }

    /// The entries at `level` or above.
    public func entries(atLeast level: Logger.Level) -> [Entry] { entries.filter { $0.level >= level } }

    fileprivate func append(_ entry: Entry) { storage.withLock { $0.append(entry) } }

    private struct Handler: LogHandler {
        let logs: CapturedLogs
        var logLevel: Logger.Level
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            logs.append(
                Entry(
                    level: event.level,
                    message: event.message.description,
                    metadata: metadata.merging(event.metadata ?? [:]) { $1 }
                )
            )
        }
    }
}
