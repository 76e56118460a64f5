public import Foundation
public import OspreyCore

/// Firing a schedule: the claim that makes each firing happen once, however many gateways' schedulers try.
extension Schedules {
    /// What entitles a gateway to fire a schedule. Several gateways on one PostgreSQL database all run a scheduler;
    /// the claim, taken in the firing's own transaction, is what makes each firing happen once.
    public enum Claim: Hashable, Sendable {
        /// A time schedule's tick: only while its `next_fire_at` is still at or before the firing's time (the first
        /// firing moves it past that time). Compared as stored text, not as a `Date` read back, which can differ from
        /// it in the last millisecond.
        case due
        /// An event trigger: once per (schedule, event seq), and not within its cooldown of its last firing.
        case event(seq: Int, cooldownSeconds: Int)
        /// Fired by hand (`osprey cron run`): always.
        case manual
    }

    /// A firing this caller claimed, and the task it submitted (none for a routine's beat, or for a tick skipped
    /// because the schedule's last task is still open).
    public struct Fired: Hashable, Sendable {
        public var task: TaskRecord?
        /// The schedule's task still queued or running, for which this tick submitted none.
        public var skippedFor: TaskRecord.ID?
        public init(task: TaskRecord?, skippedFor: TaskRecord.ID? = nil) {
            self.task = task
            self.skippedFor = skippedFor
        }
    }

    /// Fires a schedule in one transaction: its claim, the task it submits (when `task` is given) and
    /// `schedule.fired`. Returns nil, with nothing written, when the claim is not this caller's: another gateway
    /// fired this tick or this event, or the cooldown holds. With `skipWhileOpen`, a schedule whose last task is
    /// still queued or running submits none: the tick is claimed and recorded as `schedule.skipped`, so a slow or
    /// stalled agent does not pile up one task a tick.
    public func fire(
        _ id: ScheduleRecord.ID,
        claim: Claim,
        at date: Date,
        next: Date?,
        task draft: Tasks.Draft?,
        reason: String,
        skipWhileOpen: Bool = false
    ) async throws -> Fired? {
        let title = try draft.map(Tasks.validate)
        triggerCache.changing()
        defer { triggerCache.changed() }
        do {
            return try await writer.transaction { [tasks, ledger] db in
                guard try Self.take(claim, of: id, at: date, next: next, in: db) else { return nil }
                if skipWhileOpen, draft != nil, let open = try Self.openTask(of: id, in: db) {
                    _ = try ledger.append([Self.skippedEvent(id, open: open, next: next)], in: db)
                    return Fired(task: nil, skippedFor: open)
                }
                var task: TaskRecord?
                if let draft, let title {
                    task = try tasks.insert(draft, title: title, actor: .schedule(id), maxDepth: Tasks.maxDepth, in: db)
                }
                _ = try ledger.append([Self.firedEvent(id, task: task?.id, reason: reason, next: next)], in: db)
                return Fired(task: task)
            }
        } catch is ClaimLost {
            return nil
        }
    }

    /// Claims a firing without recording one (a routine claims its beat, runs its checks, then records the beat
    /// with ``heartbeat(_:at:next:state:changed:task:)``); false when the claim is another's.
    public func claim(_ id: ScheduleRecord.ID, _ claim: Claim, at date: Date, next: Date?) async throws -> Bool {
        triggerCache.changing()
        defer { triggerCache.changed() }
        do {
            return try await writer.transaction { db in try Self.take(claim, of: id, at: date, next: next, in: db) }
        } catch is ClaimLost {
            return false
        }
    }

    /// Another gateway claimed the firing after this one's first statement: thrown to undo that statement.
    struct ClaimLost: Error {}

    /// Takes the claim inside the caller's transaction, moving `last_fired_at` and (for a tick) `next_fire_at`.
    ///
    /// Each condition is in the statement that changes the row: on PostgreSQL a concurrent claimer's statement
    /// waits for the first one's commit, then checks the condition again on the row as changed, so exactly one
    /// wins. An event's claim is also a primary key, `schedule_firings (schedule, event)`.
    static func take(
        _ claim: Claim,
        of id: ScheduleRecord.ID,
        at date: Date,
        next: Date?,
        in db: SQLConnection
    ) throws -> Bool {
        let now = WireFormat.timestamp(date)
        switch claim {
        case .due:
            try db.execute(
                "UPDATE schedules SET last_fired_at = ?, next_fire_at = ? WHERE id = ? AND next_fire_at <= ?",
                // A millisecond's grace: a time read back from the text can be a millisecond before it.
                [
                    now, next.map(WireFormat.timestamp), id.rawValue,
                    WireFormat.timestamp(date.addingTimeInterval(0.001)),
                ]
            )
        case .event(let seq, let cooldown):
            try db.execute(
                "UPDATE schedules SET last_fired_at = ? WHERE id = ? AND (last_fired_at IS NULL OR last_fired_at <= ?)",
                [now, id.rawValue, WireFormat.timestamp(date.addingTimeInterval(-Double(cooldown)))]
            )
            guard db.changesCount > 0 else { break }
            try db.execute(
                "INSERT INTO schedule_firings (schedule, event) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [id.rawValue, seq]
            )
            // Already fired for this event: undo the cooldown's move with the rest of the transaction.
            guard db.changesCount > 0 else { throw ClaimLost() }
        case .manual:
            try db.execute(
                "UPDATE schedules SET last_fired_at = ?, next_fire_at = ? WHERE id = ?",
                [now, next.map(WireFormat.timestamp), id.rawValue]
            )
        }
        if db.changesCount > 0 { return true }
        _ = try fetch(id, in: db)  // an unknown schedule is not found, not merely claimed by another
        return false
    }

    /// The schedule's task that is still queued or running, if any.
    static func openTask(of id: ScheduleRecord.ID, in db: SQLConnection) throws -> TaskRecord.ID? {
        let row = try db.row(
            "SELECT id FROM tasks WHERE status IN (?, ?) AND schedule = ? LIMIT 1",
            [TaskStatus.queued.rawValue, TaskStatus.running.rawValue, id.rawValue]
        )
        return row.map { TaskRecord.ID($0["id"] as String) }
    }

    static func skippedEvent(_ id: ScheduleRecord.ID, open: TaskRecord.ID, next: Date?) -> EventDraft {
        EventDraft(
            type: .scheduleSkipped,
            actor: .system,
            payload: [
                "schedule": .string(id.rawValue), "open_task": .string(open.rawValue),
                "reason": "the task of its last firing is still queued or running",
                "next_fire_at": next.map { .string(WireFormat.timestamp($0)) } ?? .null,
            ]
        )
    }

    static func firedEvent(_ id: ScheduleRecord.ID, task: TaskRecord.ID?, reason: String, next: Date?) -> EventDraft {
        EventDraft(
            type: .scheduleFired,
            actor: .system,
            task: task,
            payload: [
                "schedule": .string(id.rawValue), "reason": .string(reason),
                "task": task.map { .string($0.rawValue) } ?? .null,
                "next_fire_at": next.map { .string(WireFormat.timestamp($0)) } ?? .null,
            ]
        )
    }
}
