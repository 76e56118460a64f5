extension Event {
    /// What an event records, as the dotted name stored in the ledger and sent on the wire (`session.created`).
    ///
    /// Not expressible by a string literal, so a misspelt kind does not compile; a kind the code does not know (a
    /// test's, an export's) is built with ``init(rawValue:)``. The raw value is part of the hashed bytes: a
    /// constant's string never changes.
    public struct Kind: StringVocabulary {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        // MARK: Sessions and messages

        /// A session was opened.
        public static let sessionCreated = Kind(rawValue: "session.created")
        /// A session and its transcript were deleted.
        public static let sessionDeleted = Kind(rawValue: "session.deleted")
        /// A session's older messages were summarized into a checkpoint to fit the context window.
        public static let sessionCompacted = Kind(rawValue: "session.compacted")
        /// A system message was stored in a session.
        public static let messageSystem = Kind(rawValue: "message.system")
        /// A user message was stored in a session.
        public static let messageUser = Kind(rawValue: "message.user")
        /// An assistant message was stored in a session.
        public static let messageAssistant = Kind(rawValue: "message.assistant")
        /// A message of tool results was stored in a session.
        public static let messageTool = Kind(rawValue: "message.tool")

        /// The kind recording a stored message of `role` (`message.user`, ...).
        public static func message(_ role: Role) -> Kind {
            switch role {
            case .system: .messageSystem
            case .user: .messageUser
            case .assistant: .messageAssistant
            case .tool: .messageTool
            }
        }

        // MARK: Runs, model calls and tool calls

        /// The model asked for a tool call, before it runs.
        public static let toolCallRequested = Kind(rawValue: "tool.call.requested")
        /// A tool call returned a result.
        public static let toolCallCompleted = Kind(rawValue: "tool.call.completed")
        /// A tool call returned an error result.
        public static let toolCallFailed = Kind(rawValue: "tool.call.failed")
        /// A tool call's run stopped before it answered (cancel, time limit, restart); its outcome is unknown.
        public static let toolCallInterrupted = Kind(rawValue: "tool.call.interrupted")
        /// A run stopped mid-way (cancelled, out of time, failed or cut by a restart).
        public static let runInterrupted = Kind(rawValue: "run.interrupted")
        /// A client cancelled a session's run.
        public static let runCancelled = Kind(rawValue: "run.cancelled")
        /// A client asked one gateway to cancel a session's run that another gateway on the same database runs.
        public static let runCancelRequested = Kind(rawValue: "run.cancel.requested")
        /// A session's run ended with an error.
        public static let runFailed = Kind(rawValue: "run.failed")
        /// One attempt at a model call and what it cost; its ``Event/callOutcome`` says how it went.
        public static let llmCall = Kind(rawValue: "llm.call")
        /// A model call was refused before it was made: it would pass a run, task or daily budget.
        public static let budgetExceeded = Kind(rawValue: "budget.exceeded")
        /// An agent's spending today reached 80 % of a daily limit (once a day).
        public static let budgetWarning = Kind(rawValue: "budget.warning")
        /// An agent reached a daily limit: its schedules are paused until the next UTC day or a resume.
        public static let budgetPaused = Kind(rawValue: "budget.paused")
        /// An agent's budget pause was lifted (by an operator, or a new day).
        public static let budgetResumed = Kind(rawValue: "budget.resumed")
        /// An operator changed an agent's budget.
        public static let budgetChanged = Kind(rawValue: "budget.changed")
        /// The tool policy allowed, refused or escalated a tool call.
        public static let policyDecision = Kind(rawValue: "policy.decision")
        /// A file was written by a run with untrusted content in its context.
        public static let fileTainted = Kind(rawValue: "file.tainted")
        /// A seed (a spec-first run's frozen specification) or its next generation was stored.
        public static let seedCreated = Kind(rawValue: "seed.created")
        /// A seed's acceptance criteria were checked against the workspace, with each result's evidence.
        public static let seedEvaluated = Kind(rawValue: "seed.evaluated")
        /// A seed interview asked the user a clarifying question (with the ambiguity score that made it ask).
        public static let seedQuestion = Kind(rawValue: "seed.question")
        /// A seed interview ended: its goal became a seed.
        public static let seedInterviewed = Kind(rawValue: "seed.interviewed")
        /// The workspace was checkpointed (its files committed to Osprey's own repository beside it).
        public static let checkpointCreated = Kind(rawValue: "checkpoint.created")
        /// The workspace was restored from a checkpoint (after a checkpoint of what it held).
        public static let checkpointRestored = Kind(rawValue: "checkpoint.restored")

        // MARK: Approvals

        /// A tool call is waiting for a human's approval.
        public static let approvalRequested = Kind(rawValue: "approval.requested")
        /// A human approved a waiting call.
        public static let approvalGranted = Kind(rawValue: "approval.granted")
        /// A human rejected a waiting call.
        public static let approvalDenied = Kind(rawValue: "approval.denied")
        /// An approval ran out of time before anyone decided, or before its grant was used.
        public static let approvalExpired = Kind(rawValue: "approval.expired")
        /// A granted approval was spent by the call it allowed.
        public static let approvalUsed = Kind(rawValue: "approval.used")

        // MARK: Tasks, schedules and watchers

        /// A background task was queued.
        public static let taskCreated = Kind(rawValue: "task.created")
        /// A background task began a run (another attempt after a crash).
        public static let taskStarted = Kind(rawValue: "task.started")
        /// A gateway took over a running task whose gateway stopped beating (several gateways on one database).
        public static let taskAdopted = Kind(rawValue: "task.adopted")
        /// A background task finished with a result.
        public static let taskCompleted = Kind(rawValue: "task.completed")
        /// A background task finished with an error.
        public static let taskFailed = Kind(rawValue: "task.failed")
        /// A background task was cancelled before it finished.
        public static let taskCancelled = Kind(rawValue: "task.cancelled")
        /// A workflow run's step started (a prompt step names the task it runs as).
        public static let workflowStepStarted = Kind(rawValue: "workflow.step.started")
        /// A workflow run's step finished and passed its acceptance checks.
        public static let workflowStepCompleted = Kind(rawValue: "workflow.step.completed")
        /// A workflow run's step failed (its action, or an acceptance check), or could not run because a step it
        /// needs failed.
        public static let workflowStepFailed = Kind(rawValue: "workflow.step.failed")
        /// A schedule was added.
        public static let scheduleCreated = Kind(rawValue: "schedule.created")
        /// A node of a cluster became the leader of a role (the scheduler's), holding its lock in the shared database.
        public static let clusterLeader = Kind(rawValue: "cluster.leader")
        /// A schedule fired and queued its task.
        public static let scheduleFired = Kind(rawValue: "schedule.fired")
        /// A time schedule's tick came while the task of its last firing was still queued or running: no task was
        /// submitted for it.
        public static let scheduleSkipped = Kind(rawValue: "schedule.skipped")
        /// A schedule was removed.
        public static let scheduleRemoved = Kind(rawValue: "schedule.removed")
        /// A schedule was paused: it fires by neither time nor event until resumed.
        public static let schedulePaused = Kind(rawValue: "schedule.paused")
        /// A paused schedule was resumed.
        public static let scheduleResumed = Kind(rawValue: "schedule.resumed")
        /// A heartbeat schedule ran its routine check without calling a model.
        public static let heartbeatTick = Kind(rawValue: "heartbeat.tick")
        /// A watcher's routine check saw a change and raised an alert.
        public static let watcherAlert = Kind(rawValue: "watcher.alert")
        /// A watcher ran its remediation command after an alert.
        public static let watcherRemediated = Kind(rawValue: "watcher.remediated")

        // MARK: Memory

        /// A memory was stored (or updated) in the memory bank.
        public static let memoryStored = Kind(rawValue: "memory.stored")
        /// A memory was forgotten.
        public static let memoryForgotten = Kind(rawValue: "memory.forgotten")
        /// A memory's title or content was edited (its file rewritten and re-indexed).
        public static let memoryUpdated = Kind(rawValue: "memory.updated")

        // MARK: Gateway and access

        /// The gateway started serving.
        public static let gatewayStarted = Kind(rawValue: "gateway.started")
        /// The gateway stopped (graceful shutdown or a signal).
        public static let gatewayStopped = Kind(rawValue: "gateway.stopped")
        /// A request was refused for a missing, invalid, expired or revoked token.
        public static let authFailed = Kind(rawValue: "auth.failed")
        /// An API token was issued.
        public static let tokenCreated = Kind(rawValue: "token.created")
        /// An API token was revoked.
        public static let tokenRevoked = Kind(rawValue: "token.revoked")

        // MARK: Incidents

        /// An incident was opened.
        public static let incidentCreated = Kind(rawValue: "incident.created")
        /// A step of an incident was recorded (observation, hypothesis, action, result).
        public static let incidentStep = Kind(rawValue: "incident.step")
        /// An incident was resolved, with its summary.
        public static let incidentResolved = Kind(rawValue: "incident.resolved")

        // MARK: Resources

        /// The gateway came under resource pressure (or critical: it drains and restarts); `reasons` say what.
        public static let resourcePressure = Kind(rawValue: "resource.pressure")
        /// The pressure lifted.
        public static let resourceRelieved = Kind(rawValue: "resource.relieved")

        // MARK: SafeSwitch

        /// A change was applied after a snapshot of what it touches; its probation began.
        public static let switchBegun = Kind(rawValue: "switch.begun")
        /// The health checks of a change in probation ran (`healthy`, each check's result).
        public static let switchChecked = Kind(rawValue: "switch.checked")
        /// A change in probation was kept.
        public static let switchCommitted = Kind(rawValue: "switch.committed")
        /// A change was undone from its snapshot (`reason`: a failed check, the window ended, asked, a restart).
        public static let switchRolledBack = Kind(rawValue: "switch.rolled_back")

        // MARK: Channels

        /// A chat platform's message reached the gateway (`channel`, `sender`, `chat`, whether it was let through).
        public static let channelReceived = Kind(rawValue: "channel.received")
        /// The gateway sent (or edited) a message on a chat platform.
        public static let channelSent = Kind(rawValue: "channel.sent")
        /// An unknown sender was given a pairing code (the code itself is never recorded).
        public static let channelPairingRequested = Kind(rawValue: "channel.pairing_requested")
        /// An operator paired a sender with a code: it is on the channel's allowlist.
        public static let channelPaired = Kind(rawValue: "channel.paired")
        /// A paired sender was taken off the allowlist.
        public static let channelRevoked = Kind(rawValue: "channel.revoked")

        // MARK: Egress

        /// A sandboxed command's connection through the egress proxy: allowed (with the address it was pinned to)
        /// or refused (with why).
        public static let egressConnection = Kind(rawValue: "egress.connection")

        // MARK: Backups

        /// The gateway took a backup (on its schedule or asked to): where, what it holds, what retention pruned.
        public static let backupCreated = Kind(rawValue: "backup.created")
        /// A backup the gateway tried to take failed (why).
        public static let backupFailed = Kind(rawValue: "backup.failed")
    }
}
