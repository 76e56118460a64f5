public import Foundation
import Logging
public import OspreyCore
public import OspreyStore

/// What running one task produced.
public struct TaskOutcome: Hashable, Sendable {
    public var result: String
    /// Tokens spent that the meter did not already charge to the task (an agent's calls are charged as they
    /// settle, so an agent runner reports 0 here).
    public var tokens: Int
    /// Dollars spent the same way.
    public var costUSD: Double
    /// Whether the result may carry untrusted content (the run had some in its context); unknown is untrusted.
    public var untrusted: Bool

    public init(result: String, tokens: Int = 0, costUSD: Double = 0, untrusted: Bool = true) {
        self.result = result
        self.tokens = tokens
        self.costUSD = costUSD
        self.untrusted = untrusted
    }
}

/// Runs background tasks as supervised jobs: a priority queue, a global concurrency cap, a per-provider cap
/// with back-off after a 429, a heartbeat while each runs, cancellation, and recovery after a crash.
///
/// The store is the ground truth: a task is `running` in the database before its first step, and a job that
/// dies with the process is found `running` at the next start and resumed from its transcript.
public actor Supervisor {
    /// The caps and clocks of the supervisor.
    public struct Limits: Hashable, Sendable {
        public var maxConcurrent: Int
        public var perProvider: Int
        public var heartbeat: Duration
        /// On a PostgreSQL database several gateways share: how old a running task's last heartbeat may be before
        /// another gateway adopts it and resumes it (its gateway is taken for dead).
        public var lease: Duration
        /// How long a provider that answered 429 gets no new task.
        public var rateLimitBackoff: Duration
        /// How long a task waits to be started again, or its outcome to be written again, after the store could
        /// not record it (its disk full, its database out of reach).
        public var storageRetry: Duration

        public init(
            maxConcurrent: Int = 4,
            perProvider: Int = 4,
            heartbeat: Duration = .seconds(5),
            lease: Duration = .seconds(30),
            rateLimitBackoff: Duration = .seconds(10),
            storageRetry: Duration = .seconds(5)
        ) {
            self.maxConcurrent = maxConcurrent
            self.perProvider = perProvider
            self.heartbeat = heartbeat
            self.lease = lease
            self.rateLimitBackoff = rateLimitBackoff
            self.storageRetry = storageRetry
        }
    }

    /// Runs one task (fresh, or resumed from its transcript after a crash) and says what it produced.
    public typealias Runner = @Sendable (_ task: TaskRecord, _ resume: Bool) async throws -> TaskOutcome

    struct Entry: Sendable {
        var task: TaskRecord
        var resume: Bool
        var sequence: Int
        /// Times in a row the store could not record this task's start or progress (see ``retryLater(_:because:)``).
        var storageFailures = 0
    }

    struct Job {
        var provider: String
        var cancel: AsyncStream<Void>.Continuation
        /// A workflow run: it coordinates sub-tasks and holds no slot of the caps while they run (else runs that
        /// wait for their steps could fill every slot and wait forever).
        var coordinator = false
    }

    let store: Store
    let limits: Limits
    let runner: Runner
    /// The provider a task's model calls go to, for the per-provider cap.
    let provider: @Sendable (TaskRecord) -> String
    var queue = TaskQueue()
    /// Agents whose budget is spent for the day (`budget.paused`): their queued tasks wait in ``held`` until a
    /// `budget.resumed`, in the order they were queued.
    var paused: Set<String> = []
    var held: [Entry] = []
    /// Under resource pressure, queued tasks below this priority wait in ``shed`` (nil: none do).
    private var shedBelow: Int?
    private var shed: [Entry] = []
    /// On a shared PostgreSQL database: queued tasks that found the cluster at its cap (``Limits/maxConcurrent``
    /// counts every gateway's running tasks there); tried again when any gateway's task ends, and every heartbeat.
    private var parked: [Entry] = []
    /// Tasks the store could not record (a full disk): started again after ``Limits/storageRetry``.
    var retrying: [TaskRecord.ID: Entry] = [:]
    private var running: [TaskRecord.ID: Job] = [:]
    /// Until when (on ``elapsed``) each provider backs off.
    private var backoff: [String: Duration] = [:]
    /// Time since the supervisor was made, on its clock; injected so tests advance time instead of sleeping.
    private let elapsed: @Sendable () -> Duration
    let sleep: @Sendable (Duration) async throws -> Void
    private var sequence = 0
    /// Jobs to start; ``run()`` consumes it inside its task group, so every job is a structured child.
    private let starts: AsyncStream<Entry>
    private let startSink: AsyncStream<Entry>.Continuation

    public init(
        store: Store,
        limits: Limits = Limits(),
        clock: some Clock<Duration> & Sendable = ContinuousClock(),
        provider: @escaping @Sendable (TaskRecord) -> String = { _ in "default" },
        runner: @escaping Runner
    ) {
        self.store = store
        self.limits = limits
        self.provider = provider
        self.runner = runner
        let start = clock.now
        self.elapsed = { start.duration(to: clock.now) }
        self.sleep = { try await clock.sleep(for: $0) }
        (starts, startSink) = AsyncStream<Entry>.makeStream()
    }

    /// Runs jobs until cancelled (the gateway's graceful shutdown). Jobs still running then stay `running` in
    /// the store and resume at the next start.
    ///
    /// The store is how work reaches the supervisor: whoever submits or cancels a task (the API, a task tool, a
    /// schedule) writes it through the store, and the supervisor wakes on the committed `task.created` or
    /// `task.cancelled` event. It first queues what the store already holds unfinished, then follows the ledger
    /// from that point, so no task committed in between is missed.
    public func run() async {
        // The paused budgets are read before the unfinished tasks are queued, so a paused agent's task is held from
        // the start instead of racing the budget follower.
        let budgets = await loadPausedBudgets()
        await withDiscardingTaskGroup { group in
            group.addTask { await self.follow() }
            group.addTask { await self.followBudgets(after: budgets) }
            if store.dialect == .postgres { group.addTask { await self.adoptOrphans() } }
            for await entry in starts {
                group.addTask { await self.execute(entry) }
            }
        }
    }

    /// Queues the unfinished tasks, then every task created (and drops every task cancelled) after them, until
    /// cancelled; a store failure is logged and the ledger followed again from where it stopped.
    func follow() async {
        let logger = Logger.current
        var after: Int?
        while !Task.isCancelled {
            do {
                if after == nil {
                    let high = try await store.ledger.lastSeq()
                    try await recover()
                    after = high
                }
                try await store.ledger.follow(after: after ?? 0, filter: EventFilter(type: "task.*")) { event in
                    after = event.seq
                    try await self.observe(event)
                }
                return  // the event bus has closed: no event will come any more
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.error("task events could not be followed", metadata: ["error": "\(error)"])
                try? await sleep(.seconds(1))
            }
        }
    }

    /// On a shared PostgreSQL database: every heartbeat, adopts the running tasks of gateways whose lease ran out
    /// and resumes them here, as after a local crash (a tool call cut off without its result is closed as
    /// interrupted, never run again), until cancelled.
    func adoptOrphans() async {
        let logger = Logger.current
        while !Task.isCancelled {
            do {
                try await sleep(limits.heartbeat)
                unpark()
                for task in try await store.tasks.adoptOrphans(lease: limits.lease) where !holds(task.id) {
                    logger.warning(
                        "adopted a task whose gateway stopped beating",
                        metadata: ["task.id": "\(task.id)"]
                    )
                    enqueue(task, resume: true)
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.error("orphaned tasks could not be adopted", metadata: ["error": "\(error)"])
            }
        }
    }

    /// A committed task event: a new task is queued (if the store still has it queued), a cancelled one is
    /// dropped from the queue and its run stopped.
    func observe(_ event: Event) async throws {
        guard let id = event.task else { return }
        switch event.type {
        case .taskCreated:
            guard !holds(id) else { return }
            let task = try await store.tasks.get(id)
            // Checked again after the read: recovery may have queued it meanwhile.
            guard task.status == .queued, !holds(id) else { return }
            enqueue(task, resume: false)
        case .taskCompleted, .taskFailed:
            unpark()
        case .taskCancelled:
            parked.removeAll { $0.task.id == id }
            retrying[id] = nil
            unpark()
            queue.remove(id)
            held.removeAll { $0.task.id == id }
            shed.removeAll { $0.task.id == id }
            running[id]?.cancel.finish()
        case .taskAdopted where event.payload["node"]?.stringValue != store.tasks.node:
            // Another gateway took it over (this one's lease ran out): stop it here without finishing it.
            queue.remove(id)
            running[id]?.cancel.finish()
        default:
            return
        }
    }

    /// Stores a new task; the supervisor queues it when the store commits it (see ``run()``).
    public func submit(_ draft: Tasks.Draft, actor: Principal) async throws -> TaskRecord {
        try await store.tasks.submit(draft, actor: actor)
    }

    /// Queues every task the store says is unfinished: queued ones as they are, running ones (cut off by a
    /// crash) to resume. Returns how many.
    @discardableResult
    public func recover() async throws -> Int {
        let unfinished = try await store.tasks.unfinished()
        for task in unfinished
        where !holds(task.id) {
            enqueue(task, resume: task.status == .running)
        }
        return unfinished.count
    }

    /// Cancels a queued or running task in the store; the supervisor stops it when the store commits that.
    public func cancel(_ id: TaskRecord.ID, actor: Principal) async throws -> TaskRecord {
        try await store.tasks.cancel(id, actor: actor)
    }

    /// Whether the task is already queued or running here.
    func holds(_ id: TaskRecord.ID) -> Bool {
        running[id] != nil || queue.contains(id) || held.contains { $0.task.id == id }
            || shed.contains { $0.task.id == id } || parked.contains { $0.task.id == id } || retrying[id] != nil
    }

    /// Resource pressure: queued tasks below `priority` wait (those queued now and those that come) until it is
    /// lifted with nil, when they are queued again in their order. Running tasks go on.
    public func shed(below priority: Int?) {
        shedBelow = priority
        if let priority {
            shed += queue.removeAll { $0.task.priority < priority }
        } else {
            let back = shed.sorted { $0.sequence < $1.sequence }
            shed = []
            for entry in back { queue.push(entry, provider: provider(entry.task)) }
            dispatch()
        }
    }

    /// How many tasks wait for resource pressure to lift.
    public var shedding: Int { shed.count }

    /// A provider answered 429: give it no new task for a while.
    public func rateLimited(provider: String) {
        backoff[provider] = elapsed() + limits.rateLimitBackoff
    }

    /// Queued and running counts.
    public var load: (queued: Int, running: Int) { (queue.count, running.count) }

    func enqueue(_ task: TaskRecord, resume: Bool, storageFailures: Int = 0) {
        sequence += 1
        let entry = Entry(task: task, resume: resume, sequence: sequence, storageFailures: storageFailures)
        if task.workflow != nil || task.seed != nil {
            let (_, cancel) = AsyncStream<Void>.makeStream()
            running[task.id] = Job(provider: "workflow", cancel: cancel, coordinator: true)
            startSink.yield(entry)
            return
        }
        if paused.contains(task.agent) {
            held.append(entry)
            return
        }
        if let below = shedBelow, task.priority < below {
            shed.append(entry)
            return
        }
        queue.push(entry, provider: provider(task))
        dispatch()
    }

    /// Queues the parked tasks again, in their order: a slot may have come free on the cluster.
    func unpark() {
        guard !parked.isEmpty else { return }
        let back = parked.sorted { $0.sequence < $1.sequence }
        parked = []
        for entry in back { queue.push(entry, provider: provider(entry.task)) }
        dispatch()
    }

    func park(_ entry: Entry) {
        parked.append(entry)
    }

    /// Starts the best queued tasks (highest priority, then oldest) while the caps allow: only providers with
    /// room and not backing off are asked.
    func dispatch() {
        let now = elapsed()
        var perProvider: [String: Int] = [:]
        let workers = running.values.filter { !$0.coordinator }
        for job in workers { perProvider[job.provider, default: 0] += 1 }
        var busy = workers.count
        while busy < limits.maxConcurrent,
            let (entry, name) = queue.popBest(eligible: { name in
                perProvider[name, default: 0] < limits.perProvider && (backoff[name].map { $0 <= now } ?? true)
            })
        {
            let (_, cancel) = AsyncStream<Void>.makeStream()
            running[entry.task.id] = Job(provider: name, cancel: cancel)
            perProvider[name, default: 0] += 1
            busy += 1
            startSink.yield(entry)
        }
    }

    func cancelSignal(_ id: TaskRecord.ID) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        running[id]?.cancel = continuation
        return stream
    }

    func finished(_ id: TaskRecord.ID) {
        running[id] = nil
        dispatch()
    }

    /// Runs one job: `running` in the store, a heartbeat, the runner raced against cancellation; the outcome stored.
    func execute(_ entry: Entry) async {
        let id = entry.task.id
        let cancelled = cancelSignal(id)
        defer { finished(id) }
        let task: TaskRecord
        do {
            let coordinator = entry.task.workflow != nil || entry.task.seed != nil
            let caps = Tasks.ClusterCaps(
                overall: limits.maxConcurrent,
                provider: provider(entry.task),
                perProvider: limits.perProvider
            )
            task = try await store.tasks.start(id, caps: store.dialect == .postgres && !coordinator ? caps : nil)
        } catch is Tasks.AtCapacity {
            park(entry)  // parked before `finished` frees its slot here, so it is not lost between the two
            return
        } catch let error as StoreError where error.isUnavailable {
            retryLater(entry, because: error)  // its start could not be recorded: it is still queued in the store
            return
        } catch {
            return  // cancelled before it started, or claimed by another gateway
        }
        let store = self.store
        let runner = self.runner
        let heartbeat = limits.heartbeat
        let sleep = self.sleep
        do {
            let outcome = try await withThrowingTaskGroup(of: TaskOutcome?.self) { group in
                // Every event the run produces carries the task's id.
                group.addTask {
                    try await EventDraft.$currentTask.withValue(id) { try await runner(task, entry.resume) }
                }
                group.addTask {
                    for await _ in cancelled {}
                    return nil
                }
                group.addTask {
                    while true {
                        try await sleep(heartbeat)
                        // Another gateway adopted it: stop without finishing; the adopter resumes it.
                        guard try await store.tasks.heartbeat(id) else { return nil }
                    }
                }
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    return next
                }
                return nil
            }
            guard let outcome else { return }  // cancelled by a client: the store already says so
            await record(id, result: outcome.result, error: nil, tokens: outcome.tokens, costUSD: outcome.costUSD)
        } catch is CancellationError {
            // The gateway is shutting down: the task stays `running` and resumes at the next start.
        } catch let error as StoreError where error.isUnavailable {
            // Not the task's failure: what it did could not be recorded. As after a crash, it resumes from what was.
            var interrupted = entry
            interrupted.task = task
            interrupted.resume = true
            retryLater(interrupted, because: error)
        } catch {
            await record(id, result: nil, error: "\(error)", tokens: 0, costUSD: 0)
        }
    }
}
