import OspreyCore
import OspreyStore
import Synchronization

/// Runs in progress, by session: one at a time per session, cancellable from any client.
final class RunRegistry: Sendable {
    /// One session's lane: whether a run holds it, how to cancel that run, and who waits, in arrival order.
    private struct Lane {
        var cancel: AsyncStream<Void>.Continuation?
        var waiting: [(ticket: UInt64, wake: CheckedContinuation<Bool, Never>)] = []
    }

    private let lanes = Mutex<(next: UInt64, lanes: [Session.ID: Lane])>((0, [:]))
    /// The lanes of every gateway on a shared PostgreSQL database (nil on SQLite): taken once this gateway's own
    /// lane is, let go of before it passes on.
    private let cluster: SessionLanes?

    init(lanes: SessionLanes? = nil) {
        cluster = lanes
    }

    /// Waits for the session's lane (runs of one session go one at a time, in the order they arrived), then
    /// registers the run; returns a stream that finishes when someone cancels it.
    func begin(_ session: Session.ID) async throws -> AsyncStream<Void> {
        let (stream, cancel) = AsyncStream<Void>.makeStream()
        let ticket = lanes.withLock { state in
            state.next += 1
            return state.next
        }
        let granted = await withTaskCancellationHandler {
            await withCheckedContinuation { (wake: CheckedContinuation<Bool, Never>) in
                let now = lanes.withLock { state -> Bool in
                    guard var lane = state.lanes[session] else {
                        state.lanes[session] = Lane(cancel: cancel)
                        return true
                    }
                    lane.waiting.append((ticket, wake))
                    state.lanes[session] = lane
                    return false
                }
                if now { wake.resume(returning: true) }
            }
        } onCancel: {
            let waiter = lanes.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard var lane = state.lanes[session],
                    let index = lane.waiting.firstIndex(where: { $0.ticket == ticket })
                else { return nil }
                let waiter = lane.waiting.remove(at: index).wake
                state.lanes[session] = lane
                return waiter
            }
            waiter?.resume(returning: false)
        }
        guard granted else { throw CancellationError() }
        if let cluster {
            do {
                try await cluster.acquire(session)
            } catch {
                end(session, holdsCluster: false)
                throw error
            }
        }
        lanes.withLock { $0.lanes[session]?.cancel = cancel }
        if Task.isCancelled {
            end(session)
            throw CancellationError()
        }
        return stream
    }

    /// Releases the session's lane to the next waiting run, if any.
    func end(_ session: Session.ID) { end(session, holdsCluster: true) }

    private func end(_ session: Session.ID, holdsCluster: Bool) {
        if holdsCluster { cluster?.release(session) }
        let next = lanes.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard var lane = state.lanes[session] else { return nil }
            guard !lane.waiting.isEmpty else {
                state.lanes[session] = nil
                return nil
            }
            let next = lane.waiting.removeFirst().wake
            lane.cancel = nil
            state.lanes[session] = lane
            return next
        }
        next?.resume(returning: true)
    }

    /// On a shared PostgreSQL database: whether another gateway runs one of the session's runs (it holds the
    /// session's lane while this gateway runs none). False on SQLite.
    func runsElsewhere(_ session: Session.ID) async throws -> Bool {
        guard let cluster, lanes.withLock({ $0.lanes[session] == nil }) else { return false }
        guard try await cluster.tryAcquire(session) else { return true }
        cluster.release(session)
        return false
    }

    /// Cancels the runs of the sessions other gateways were asked to cancel (`run.cancel.requested`, heard through
    /// the ledger feed), until cancelled.
    func followCancelRequests(bus: EventBus) async {
        for await event in bus.subscribe(where: { $0.type == .runCancelRequested }) {
            if let session = event.session { _ = cancel(session) }
        }
    }

    /// Cancels the session's running run; false when none is running.
    func cancel(_ session: Session.ID) -> Bool {
        guard let continuation = lanes.withLock({ $0.lanes[session]?.cancel }) else { return false }
        continuation.finish()
        return true
    }

    /// Sessions with a run in progress.
    var sessions: [Session.ID] { lanes.withLock { $0.lanes.filter { $0.value.cancel != nil }.map(\.key) } }
}
