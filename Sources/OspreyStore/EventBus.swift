public import OspreyCore
import Synchronization

/// Fans committed events out to live subscribers (SSE streams, WebSockets, triggers), in commit order.
///
/// Each subscriber has a bounded buffer; a slow one loses the oldest events rather than holding memory,
/// and ``Ledger/follow(after:filter:onEvent:)`` refills any gap from the database.
public final class EventBus: Sendable {
    private struct State {
        var nextID = 0
        var closed = false
        var subscribers: [Int: AsyncStream<Event>.Continuation] = [:]
    }

    private let state = Mutex(State())
    private let bufferSize: Int

    public init(bufferSize: Int = 4096) { self.bufferSize = bufferSize }

    /// A stream of every event committed from now on. It ends when the consumer stops iterating.
    public func subscribe() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(bufferSize))
        let id = state.withLock { state -> Int? in
            guard !state.closed else { return nil }
            state.nextID += 1
            state.subscribers[state.nextID] = continuation
            return state.nextID
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// How many live subscribers there are.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Delivers events to every subscriber; called by the ledger after each commit.
    func publish(_ events: [Event]) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for continuation in subscribers {
            for event in events { continuation.yield(event) }
        }
    }

    /// Ends every subscription and refuses new ones (on shutdown).
    public func finishAll() {
        let subscribers = state.withLock { state in
            state.closed = true
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for continuation in subscribers { continuation.finish() }
    }
}
