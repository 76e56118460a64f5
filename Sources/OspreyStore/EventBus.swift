public import OspreyCore
import Synchronization

/// Fans committed events out to live subscribers (SSE streams, WebSockets, triggers), in commit order.
///
/// Each subscriber has a bounded buffer; a slow one loses the oldest events rather than holding memory,
/// and ``Ledger/follow(after:filter:onEvent:)`` refills any gap from the database. A subscriber that wants only
/// some events says which when it subscribes: the others never reach it, so a hundred runs each waiting for their
/// own approval request do not each wake for every event of the others.
public final class EventBus: Sendable {
    private struct State {
        var nextID = 0
        var closed = false
        var mailboxes: [Int: Mailbox] = [:]
    }

    private let state = Mutex(State())
    private let bufferSize: Int

    public init(bufferSize: Int = 4096) { self.bufferSize = bufferSize }

    /// The events committed from now on that pass `filter` (every event without one), until the consumer stops
    /// iterating or its task is cancelled. `filter` runs on the publishing thread: keep it a cheap test.
    public func subscribe(where filter: (@Sendable (Event) -> Bool)? = nil) -> Subscription {
        let mailbox = Mailbox(capacity: bufferSize, filter: filter)
        let id = state.withLock { state -> Int? in
            guard !state.closed else { return nil }
            state.nextID += 1
            state.mailboxes[state.nextID] = mailbox
            return state.nextID
        }
        guard let id else {
            mailbox.finish()
            return Subscription(mailbox: mailbox, leave: {})
        }
        return Subscription(mailbox: mailbox) { [weak self] in
            _ = self?.state.withLock { $0.mailboxes.removeValue(forKey: id) }
        }
    }

    /// How many live subscribers there are.
    public var subscriberCount: Int { state.withLock { $0.mailboxes.count } }

    /// Delivers events to every subscriber; called by the ledger after each commit.
    func publish(_ events: [Event]) {
        guard !events.isEmpty else { return }
        let mailboxes = state.withLock { Array($0.mailboxes.values) }
        for mailbox in mailboxes { mailbox.deliver(events) }
    }

    /// Ends every subscription and refuses new ones (on shutdown).
    public func finishAll() {
        let mailboxes = state.withLock { state in
            state.closed = true
            defer { state.mailboxes.removeAll() }
            return Array(state.mailboxes.values)
        }
        for mailbox in mailboxes { mailbox.finish() }
    }
}

extension EventBus {
    /// One subscriber's events, as an async sequence. It leaves the bus when the last reference to it goes (the
    /// loop over it ended) and ends when its consuming task is cancelled or the bus shuts down.
    public final class Subscription: AsyncSequence, Sendable {
        public typealias Element = Event
        let mailbox: Mailbox
        private let leave: @Sendable () -> Void

        init(mailbox: Mailbox, leave: @escaping @Sendable () -> Void) {
            self.mailbox = mailbox
            self.leave = leave
        }

        deinit { leave() }

        public func makeAsyncIterator() -> Iterator { Iterator(subscription: self) }

        public struct Iterator: AsyncIteratorProtocol {
            /// Keeps the subscription on the bus while someone iterates.
            let subscription: Subscription

            public mutating func next() async -> Event? {
                let mailbox = subscription.mailbox
                if let ready = mailbox.take() { return ready }
                return await withTaskCancellationHandler {
                    await withUnsafeContinuation { continuation in mailbox.wait(continuation) }
                } onCancel: {
                    mailbox.finish()
                }
            }
        }
    }

    /// A subscriber's buffer and, while it waits, its continuation. Concrete types all the way down: a publish is a
    /// lock, an append and at most one resume, with no generic metadata looked up at run time.
    final class Mailbox: Sendable {
        private struct State {
            var events: [Event] = []
            /// Index of the oldest event not yet taken.
            var head = 0
            var waiter: UnsafeContinuation<Event?, Never>?
            var finished = false
            var count: Int { events.count - head }

            mutating func takeFirst() -> Event? {
                guard head < events.count else { return nil }
                let event = events[head]
                head += 1
                compact()
                return event
            }

            /// Drops the taken events from the array once they are many (or all of it).
            mutating func compact() {
                if head == events.count {
                    events.removeAll(keepingCapacity: true)
                    head = 0
                } else if head >= 1024 {
                    events.removeSubrange(0..<head)
                    head = 0
                }
            }
        }

        private let state = Mutex(State())
        private let capacity: Int
        private let filter: (@Sendable (Event) -> Bool)?

        init(capacity: Int, filter: (@Sendable (Event) -> Bool)?) {
            self.capacity = max(1, capacity)
            self.filter = filter
        }

        func deliver(_ events: [Event]) {
            let wanted = filter.map { events.filter($0) } ?? events
            guard !wanted.isEmpty else { return }
            let handed = state.withLock { state -> (waiter: UnsafeContinuation<Event?, Never>, event: Event)? in
                guard !state.finished else { return nil }
                var pending = wanted[...]
                var handed: (waiter: UnsafeContinuation<Event?, Never>, event: Event)?
                if let waiter = state.waiter, let first = pending.popFirst() {
                    state.waiter = nil
                    handed = (waiter, first)
                }
                state.events += pending
                // Over capacity: the oldest go; the follower refills the gap from the database.
                if state.count > capacity {
                    state.head += state.count - capacity
                    state.compact()
                }
                return handed
            }
            handed?.waiter.resume(returning: handed?.event)
        }

        /// The oldest buffered event, or nil when none is buffered (or the subscription ended).
        func take() -> Event? {
            state.withLock { $0.takeFirst() }
        }

        /// Resumes `continuation` with the next event, at once if one is buffered, or nil once finished.
        func wait(_ continuation: UnsafeContinuation<Event?, Never>) {
            let ready = state.withLock { state -> (resume: Bool, event: Event?) in
                if let event = state.takeFirst() { return (true, event) }
                if state.finished { return (true, nil) }
                state.waiter = continuation
                return (false, nil)
            }
            if ready.resume { continuation.resume(returning: ready.event) }
        }

        /// Ends the subscription: a waiting consumer gets nil, buffered events are dropped.
        func finish() {
            let waiter = state.withLock { state in
                state.finished = true
                state.events.removeAll()
                state.head = 0
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
