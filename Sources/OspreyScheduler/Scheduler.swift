public import Foundation
import Logging
public import OspreyCore
import OspreySandbox
public import OspreyStore
public import OspreyTools

/// Fires schedules: time specs (cron, `@every`, `@at`) when they come due, event triggers when a matching event
/// is committed; applies the missed-run policy after downtime. Each firing submits a task through the store (the
/// supervisor wakes on the committed `task.created`).
public actor Scheduler {
    let store: Store
    /// Whether an agent name is configured (an unknown agent is refused when the schedule is added).
    let agentExists: @Sendable (String) -> Bool
    /// Where routine checks and remediation commands run (the workspace, the sandbox ladder, the blacklist).
    let routineContext: ToolContext?

    /// Waits between ticks; injected so tests advance time instead of sleeping.
    private let pause: @Sendable (Duration) async throws -> Void

    public init(
        store: Store,
        routineContext: ToolContext? = nil,
        clock: some Clock<Duration> & Sendable = ContinuousClock(),
        agentExists: @escaping @Sendable (String) -> Bool
    ) {
        self.store = store
        self.routineContext = routineContext
        self.agentExists = agentExists
        self.pause = { try await clock.sleep(for: $0) }
    }

    /// What a client asks for; validated and completed (zone, next fire time) by ``add(_:actor:now:)``.
    public typealias Request = Schedules.Draft

    /// Validates and stores a schedule: a bad expression, time zone, policy, agent or priority is a clear
    /// ``ScheduleRequestError`` and nothing is stored.
    public func add(_ request: Request, actor: Principal, now: Date = Date()) async throws -> ScheduleRecord {
        guard (request.spec == nil) != (request.triggerEvent == nil) else {
            throw ScheduleRequestError("give exactly one of spec (cron, @every, @at) or trigger (an event type)")
        }
        guard let zone = TimeZone(identifier: request.timezone) else {
            throw ScheduleRequestError(
                "unknown time zone '\(request.timezone)' (use an IANA name such as Europe/Berlin)"
            )
        }
        guard ["skip", "run_once"].contains(request.missed) else {
            throw ScheduleRequestError("missed must be skip or run_once")
        }
        guard agentExists(request.agent) else { throw ScheduleRequestError("no agent named '\(request.agent)'") }
        guard (0...9).contains(request.priority) else { throw ScheduleRequestError("priority must be 0...9") }
        guard request.maxTokens >= 0, request.maxCostUSD >= 0, request.maxCostUSD.isFinite else {
            throw ScheduleRequestError("max_tokens and max_cost_usd must be 0 (no limit) or more")
        }
        guard (0...86_400 * 30).contains(request.cooldownSeconds) else {
            throw ScheduleRequestError("cooldown_seconds must be 0...2592000")
        }
        guard !request.title.trimmingCharacters(in: .whitespaces).isEmpty,
            !request.instructions.trimmingCharacters(in: .whitespaces).isEmpty
        else { throw ScheduleRequestError("title and instructions must not be empty") }
        for check in request.checks {
            do {
                _ = try RoutineCheck(json: check)
            } catch {
                throw ScheduleRequestError("\(error)")
            }
        }
        if let command = request.remediation, let policy = routineContext?.commandPolicy,
            case .deny(let reason) = policy.evaluate(command)
        {
            throw ScheduleRequestError("remediation refused by policy: \(reason)")
        }
        var next: Date?
        if let text = request.spec {
            let spec: ScheduleSpec
            do {
                spec = try ScheduleSpec(parsing: text)
            } catch let error as ScheduleError {
                throw ScheduleRequestError("\(error)")
            }
            next = spec.nextFire(after: now, in: zone)
            guard next != nil else { throw ScheduleRequestError("'\(text)' never fires after now") }
        }
        if let event = request.triggerEvent,
            event.range(of: #"^[a-z_]+(\.[a-z_]+)*(\.\*)?$"#, options: .regularExpression) == nil
        {
            throw ScheduleRequestError("trigger event must be a dotted event type such as task.completed or task.*")
        }
        var draft = request
        draft.name = request.name ?? request.title
        draft.nextFireAt = next
        return try await store.schedules.add(draft, actor: actor)
    }

    /// Fires a schedule now (`osprey cron run`), whatever its spec says; returns the task it submitted (none for a
    /// routine whose checks did not change).
    @discardableResult
    public func fire(_ id: ScheduleRecord.ID, reason: String = "manual", now: Date = Date()) async throws -> TaskRecord?
    {
        let schedule = try await store.schedules.get(id)
        return try await fire(schedule, claim: .manual, reason: reason, now: now, next: schedule.nextFireAt)?.task
    }

    /// Fires a schedule if `claim` is this gateway's (see ``Schedules/Claim``); nil when another gateway's firing
    /// took it. A routine claims its beat before it observes anything, so its checks and remediation run once.
    ///
    /// A time schedule's tick submits no task while the one its last firing submitted is still queued or running
    /// (`schedule.skipped`); an event trigger has its cooldown, and a firing by hand always submits one.
    func fire(
        _ schedule: ScheduleRecord,
        claim: Schedules.Claim,
        reason: String,
        now: Date,
        next: Date?
    ) async throws
        -> Schedules.Fired?
    {
        if !schedule.checks.isEmpty {
            guard try await store.schedules.claim(schedule.id, claim, at: now, next: next) else { return nil }
            return Schedules.Fired(task: try await heartbeat(schedule, now: now, next: next))
        }
        return try await store.schedules.fire(
            schedule.id,
            claim: claim,
            at: now,
            next: next,
            task: draft(schedule, instructions: schedule.instructions),
            reason: reason,
            skipWhileOpen: claim == .due
        )
    }

    /// The task a firing submits, with `instructions`: the schedule's agent, tools, priority and limits, and its
    /// taint and parent, so delegation over time keeps both.
    func draft(_ schedule: ScheduleRecord, instructions: String) -> Tasks.Draft {
        Tasks.Draft(
            title: schedule.title,
            instructions: instructions,
            agent: schedule.agent,
            tools: schedule.tools,
            priority: schedule.priority,
            parent: schedule.parent,
            schedule: schedule.id,
            maxTokens: schedule.maxTokens,
            maxCostUSD: schedule.maxCostUSD,
            tainted: schedule.tainted,
            workflow: schedule.workflow
        )
    }

    /// After downtime: time schedules whose fire time passed are skipped or run once, per their policy.
    public func catchUp(now: Date = Date()) async throws {
        for schedule in try await store.schedules.list() where !schedule.paused {
            guard let text = schedule.spec, let due = schedule.nextFireAt, due <= now,
                let spec = try? ScheduleSpec(parsing: text), let zone = TimeZone(identifier: schedule.timezone)
            else { continue }
            let next = spec.nextFire(after: now, in: zone)
            if schedule.missed == "run_once" {
                _ = try await fire(schedule, claim: .due, reason: "missed", now: now, next: next)
            } else {
                try await store.schedules.reschedule(schedule.id, next: next)
            }
        }
    }

    /// Fires every time schedule that is due at `now`; returns how many this gateway fired (with other gateways on
    /// the same database, each tick of a schedule is fired by the first to claim it), not counting ticks skipped
    /// because a schedule's last task is still open.
    @discardableResult
    public func tick(now: Date = Date()) async throws -> Int {
        try await pass(now: now).fired
    }

    /// One tick, and when the next time schedule comes due (nil: none will).
    func pass(now: Date) async throws -> (fired: Int, next: Date?) {
        // A new UTC day is a new budget: what the last one paused fires again.
        try await store.budgets.resumeExpired(today: Budgets.day(now))
        var fired = 0
        var earliest: Date?
        for schedule in try await store.schedules.list() where !schedule.paused {
            guard let text = schedule.spec, let due = schedule.nextFireAt,
                let spec = try? ScheduleSpec(parsing: text), let zone = TimeZone(identifier: schedule.timezone)
            else { continue }
            guard due <= now else {
                earliest = min(earliest ?? due, due)
                continue
            }
            // The next fire is computed from the due time, so a slow tick never skips one (nor repeats it).
            var next = spec.nextFire(after: due, in: zone)
            if let upcoming = next, upcoming <= now { next = spec.nextFire(after: now, in: zone) }
            if let next { earliest = min(earliest ?? next, next) }
            if let firing = try await fire(schedule, claim: .due, reason: "schedule", now: now, next: next),
                firing.skippedFor == nil
            {
                fired += 1
            }
        }
        return (fired, earliest)
    }

    /// How long the loop sleeps after a pass: until the next schedule is due, or the next UTC day begins (budgets
    /// paused for the day resume), and at most `longest` (a wall clock set forward is noticed by then). Changes to
    /// schedules and budgets wake it sooner.
    static func rest(until next: Date?, now: Date, longest: Duration = .seconds(900)) -> Duration {
        let day = 86_400.0
        let midnight = day - now.timeIntervalSince1970.truncatingRemainder(dividingBy: day)
        let seconds = min(next.map { $0.timeIntervalSince(now) } ?? .infinity, midnight)
        guard seconds.isFinite else { return longest }
        return min(max(.milliseconds(Int64(seconds * 1000) + 1), .milliseconds(10)), longest)
    }

    /// Fires the trigger schedules an event matches (type, payload filter, cooldown); returns the tasks submitted.
    @discardableResult
    public func observe(_ event: Event, now: Date = Date()) async throws -> [TaskRecord] {
        var submitted: [TaskRecord] = []
        for schedule in try await store.schedules.triggers() where !schedule.paused {
            guard let type = schedule.triggerEvent, Self.matches(type, event.type.rawValue) else { continue }
            guard schedule.triggerFilter.allSatisfy({ event.payload[$0.key] == $0.value }) else { continue }
            if let last = schedule.lastFiredAt, now.timeIntervalSince(last) < Double(schedule.cooldownSeconds) {
                continue
            }
            // A task the schedule submitted never fires it again by its own events (whichever gateway hears them).
            if let task = event.task, try await store.tasks.get(task).schedule == schedule.id { continue }
            let fired = try await fire(
                schedule,
                claim: .event(seq: event.seq, cooldownSeconds: schedule.cooldownSeconds),
                reason: "event \(event.type) #\(event.seq)",
                now: now,
                next: nil
            )
            if let task = fired?.task { submitted.append(task) }
        }
        return submitted
    }

    /// A routine's beat: observe every check; if none changed, record that and stop (no model call). If one did,
    /// escalate: an alert event, then the remediation command and a second look, then, if still changed, the agent.
    func heartbeat(_ schedule: ScheduleRecord, now: Date, next: Date?) async throws -> TaskRecord? {
        let checks = schedule.checks.compactMap { try? RoutineCheck(json: $0) }
        guard let context = routineContext else {
            throw StoreError.unavailable("routines need a workspace and sandbox")
        }
        func observe() async -> [String: JSONValue] {
            var state: [String: JSONValue] = [:]
            for (index, check) in checks.enumerated() { state["\(index)"] = .string(await check.observe(in: context)) }
            return state
        }
        var state = await observe()
        // The first beat sets the baseline: there is nothing to compare with yet.
        var changed = state.keys.sorted().filter { schedule.state[$0] != nil && schedule.state[$0] != state[$0] }
        var task: TaskRecord?
        if !changed.isEmpty {
            let report = changed.map {
                "check \($0) \(schedule.checks[Int($0) ?? 0].canonicalJSON): \(schedule.state[$0]?.stringValue ?? "?") -> \(state[$0]?.stringValue ?? "?")"
            }
            try await store.ledger.append(
                EventDraft(
                    type: .watcherAlert,
                    payload: [
                        "schedule": .string(schedule.id.rawValue), "changes": .array(report.map(JSONValue.string)),
                    ]
                )
            )
            var remediated = ""
            if let command = schedule.remediation {
                let outcome = await RoutineCheck.command(command).observe(in: context)
                remediated = "\nRemediation `\(command)`: \(outcome)."
                state = await observe()
                changed = state.keys.sorted().filter { schedule.state[$0] != nil && schedule.state[$0] != state[$0] }
                try await store.ledger.append(
                    EventDraft(
                        type: .watcherRemediated,
                        payload: [
                            "schedule": .string(schedule.id.rawValue), "command": .string(command),
                            "outcome": .string(outcome), "still_changed": .array(changed.map(JSONValue.string)),
                        ]
                    )
                )
            }
            if !changed.isEmpty {
                task = try await store.tasks.submit(
                    draft(
                        schedule,
                        instructions: schedule.instructions + "\n\nWhat changed:\n" + report.joined(separator: "\n")
                            + remediated
                    ),
                    actor: .schedule(schedule.id)
                )
            }
        }
        try await store.schedules.heartbeat(
            schedule.id,
            at: now,
            next: next,
            state: state,
            changed: changed,
            task: task?.id
        )
        return task
    }

    static func matches(_ pattern: String, _ type: String) -> Bool {
        pattern.hasSuffix(".*") ? type.hasPrefix(String(pattern.dropLast(1))) : pattern == type
    }

    /// Runs until cancelled: time schedules as they come due, triggers as events commit. A failure is logged
    /// (to ``Logging/Logger/current``) and the loop goes on; cancellation ends it.
    public func run() async {
        let logger = Logger.current
        do {
            try await catchUp()
        } catch {
            logger.error("schedule catch-up failed", metadata: ["error": "\(error)"])
        }
        let bus = store.ledger.bus
        // Time schedules: a pass, then sleep until the next is due; a schedule or budget changing (here or, on
        // PostgreSQL, on another gateway) wakes it. An idle gateway does not poll. Subscribed before the first pass,
        // so a change committed after that pass read the schedules still wakes the loop.
        let kinds: Set<Event.Kind> = [
            .scheduleCreated, .scheduleRemoved, .schedulePaused, .scheduleResumed, .budgetPaused, .budgetResumed,
        ]
        let changes = bus.subscribe(where: { kinds.contains($0.type) })
        // Event triggers: subscribed here too, not when the task below first runs, so no event is missed between.
        let triggers = bus.subscribe(where: { !$0.type.rawValue.hasPrefix("schedule.") })
        let changed = Doorbell()
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await event in triggers {
                    do {
                        try await self.observe(event)
                    } catch is CancellationError {
                        return
                    } catch {
                        logger.error(
                            "event trigger failed",
                            metadata: ["event.type": "\(event.type)", "error": "\(error)"]
                        )
                    }
                }
            }
            group.addTask {
                for await _ in changes { changed.ring() }
            }
            group.addTask {
                var failures = 0
                while !Task.isCancelled {
                    do {
                        let next = try await self.pass(now: Date()).next
                        if failures > 0 {
                            logger.info("schedule ticks work again", metadata: ["failures": "\(failures)"])
                            failures = 0
                        }
                        try await changed.wait(atMost: Self.rest(until: next, now: Date()), sleep: self.pause)
                    } catch is CancellationError {
                        return
                    } catch {
                        // A store that keeps refusing (a full disk) is retried less and less often, and said as
                        // often: not a line a second for as long as it lasts. A schedule change still wakes it.
                        failures += 1
                        let retry = Backoff.upToHalfAMinute.delay(after: failures)
                        logger.error(
                            "schedule tick failed",
                            metadata: ["error": "\(error)", "failures": "\(failures)", "retry_in": "\(retry)"]
                        )
                        do { try await changed.wait(atMost: retry, sleep: self.pause) } catch { return }
                    }
                }
            }
        }
    }
}
