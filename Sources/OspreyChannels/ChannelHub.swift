public import Foundation
public import Logging
public import OspreyCore
public import OspreyStore
import Synchronization

/// The channel-agnostic hub: every `[[channels]]` connector's updates come here, and what goes back out leaves from
/// here.
///
/// - A sender is let through only when config.toml's `allow` names it or an operator paired it (and did not revoke
///   it since); an unknown sender in a direct chat gets a pairing code and nothing else; a group is answered only
///   when config.toml's `groups` names it, the bot is mentioned and the sender is allowed.
/// - Each chat is a session of its own, and its messages run one at a time, in order (a lane per chat).
/// - A sender may send `rate_per_minute` messages a minute; the rest are refused with one notice.
/// - Answers stream as edits of one message at most every `edit_interval_ms`, then are split at the platform's size
///   limit; attachments go to `<workspace>/inbox/<channel>/` (size-capped), recorded as untrusted files.
/// - Approvals of a chat's run appear as buttons when its sender is an approver; a press from anyone else is refused.
/// - Every update is a `channel.received` event (recorded with the connector's cursor in one transaction), every
///   message or edit sent a `channel.sent` event.
public final class ChannelHub: Sendable {
    public struct Entry: Sendable {
        public var settings: OspreyConfig.Channel
        public var connector: any ChannelConnector
        public init(settings: OspreyConfig.Channel, connector: any ChannelConnector) {
            self.settings = settings
            self.connector = connector
        }
    }

    let entries: [String: Entry]
    let store: Store
    let agents: ChannelAgents
    let workspace: URL
    let logger: Logger
    /// Per `channel/sender`: the times of the messages of the last minute.
    let recent = SenderRates()
    /// Per `channel/chat`: the lane its messages wait in.
    let lanes = Mutex<[String: AsyncStream<InboundMessage>.Continuation]>([:])
    /// New lanes for `run` to start.
    let spawn: AsyncStream<@Sendable () async -> Void>.Continuation
    let spawned: AsyncStream<@Sendable () async -> Void>

    public init(entries: [Entry], store: Store, agents: ChannelAgents, workspace: URL, logger: Logger) {
        self.entries = Dictionary(entries.map { ($0.settings.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.store = store
        self.agents = agents
        self.workspace = workspace
        self.logger = logger
        (spawned, spawn) = AsyncStream.makeStream()
    }

    public var names: [String] { entries.keys.sorted() }

    public func settings(_ name: String) -> OspreyConfig.Channel? { entries[name]?.settings }

    /// Runs every connector (each restarted with back-off when it fails) and the chats' lanes until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for entry in entries.values {
                group.addTask { await self.keep(entry) }
            }
            for await lane in spawned { group.addTask { await lane() } }
            group.cancelAll()
        }
    }

    /// One connector, restarted whenever it stops, until cancelled. On a database other gateways share, it runs
    /// only while this gateway holds the channel (one gateway answers a channel's messages); the others try again
    /// every 5 s and take it over when its gateway goes.
    func keep(_ entry: Entry) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                if let lanes = store.lanes, try await !lanes.holdChannel(entry.settings.name) {
                    try await Task.sleep(for: .seconds(5))
                    continue
                }
                let cursor = try await store.channels.cursor(of: entry.settings.name)
                try await entry.connector.run(from: cursor) { updates, cursor in
                    try await self.deliver(updates, cursor: cursor, on: entry)
                }
                failures = 0
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                logger.error(
                    "channel connector stopped",
                    metadata: ["channel": "\(entry.settings.name)", "error": "\(error)"]
                )
            }
            if Task.isCancelled { return }
            try? await Task.sleep(for: Backoff.upToHalfAMinute.delay(after: failures))
        }
    }

    /// What the hub decided about a message.
    enum Verdict: String {
        case accepted, pairing
        case pairingPending = "pairing_pending"
        case refused, revoked, ignored
        case rateLimited = "rate_limited"
    }

    /// A batch from a connector: each update judged, all recorded with the cursor after them in one transaction,
    /// then acted on.
    func deliver(_ updates: [ChannelUpdate], cursor: String?, on entry: Entry) async throws {
        let channel = entry.settings.name
        var events: [EventDraft] = []
        var actions: [@Sendable () async -> Void] = []
        for update in updates {
            switch update {
            case .malformed(let reason):
                logger.warning("channel update skipped", metadata: ["channel": "\(channel)", "reason": "\(reason)"])
                events.append(
                    EventDraft(
                        type: .channelReceived,
                        actor: .system,
                        payload: ["channel": .string(channel), "outcome": "malformed", "reason": .string(reason)]
                    )
                )
            case .press(let press):
                // Presses count against the sender's minute too: a flood of them costs one answer each otherwise.
                let admitted = admit(press.sender, on: entry.settings) == .admitted
                events.append(
                    EventDraft(
                        type: .channelReceived,
                        actor: .channel(channel, sender: press.sender),
                        payload: [
                            "channel": .string(channel), "sender": .string(press.sender), "chat": .string(press.chat),
                            "button": .string(press.data), "outcome": admitted ? "press" : "rate_limited",
                        ]
                    )
                )
                if admitted { actions.append { await self.answer(press, on: entry) } }
            case .message(let message):
                let (verdict, action) = try await judge(message, on: entry)
                events.append(
                    EventDraft(
                        type: .channelReceived,
                        actor: .channel(channel, sender: message.sender),
                        payload: [
                            "channel": .string(channel), "sender": .string(message.sender),
                            "chat": .string(message.chat), "message": .string(message.id),
                            "characters": .int(message.text.count), "attachments": .int(message.attachments.count),
                            "group": .bool(message.group), "outcome": .string(verdict.rawValue),
                        ]
                    )
                )
                if let action { actions.append(action) }
            }
        }
        try await store.channels.received(events, channel: channel, cursor: cursor)
        for action in actions { await action() }
    }

    /// Whether a message reaches the agent, and what to do about it.
    func judge(_ message: InboundMessage, on entry: Entry) async throws -> (Verdict, (@Sendable () async -> Void)?) {
        let settings = entry.settings
        if message.group && !(settings.groups.contains(message.chat) && message.mentioned) { return (.ignored, nil) }
        let paired = try await store.channels.sender(message.sender, of: settings.name)
        let allowed = settings.allow.contains(message.sender) || (paired != nil && paired?.revokedAt == nil)
        if !allowed {
            // Strangers in groups get nothing; in a direct chat, a code (once) and nothing else.
            if message.group { return (.ignored, nil) }
            if paired?.revokedAt != nil {
                guard admit(message.sender, on: settings) == .admitted else { return (.rateLimited, nil) }
                return (.revoked, { await self.say("Access to this agent was revoked.", in: message.chat, on: entry) })
            }
            guard admit(message.sender, on: settings) == .admitted else { return (.rateLimited, nil) }
            let code = Self.pairingCode()
            switch try await store.channels.requestPairing(
                channel: settings.name,
                sender: message.sender,
                display: message.display,
                chat: message.chat,
                code: Self.normalized(code),
                lifetime: TimeInterval(settings.pairingSeconds)
            ) {
            case .issued:
                let text =
                    "This bot only answers people its operator paired. Your pairing code is \(code). Give it to the "
                    + "operator, who runs: osprey channels pair \(code)"
                return (.pairing, { await self.say(text, in: message.chat, on: entry) })
            case .pending:
                return (.pairingPending, nil)
            case .full:
                return (.refused, nil)
            }
        }
        switch admit(message.sender, on: settings) {
        case .admitted: break
        case .refused(let first):
            // One notice per burst: a flood does not get a flood of answers.
            guard first else { return (.rateLimited, nil) }
            return (.rateLimited, { await self.say("Too many messages; wait a minute.", in: message.chat, on: entry) })
        }
        return (.accepted, { self.enqueue(message, on: entry) })
    }

    /// Counts a message against its sender's last minute.
    func admit(_ sender: String, on settings: OspreyConfig.Channel) -> SenderRates.Admission {
        recent.admit(settings.name + "/" + sender, limit: settings.ratePerMinute)
    }

    /// Puts an accepted message in its chat's lane, starting the lane on the chat's first message.
    func enqueue(_ message: InboundMessage, on entry: Entry) {
        let key = entry.settings.name + "/" + message.chat
        let lane = lanes.withLock { lanes -> AsyncStream<InboundMessage>.Continuation in
            if let lane = lanes[key] { return lane }
            let (messages, lane) = AsyncStream<InboundMessage>.makeStream()
            lanes[key] = lane
            spawn.yield {
                for await message in messages {
                    // Read when the message leaves the lane: a revoke or a new approver mapping counts at once.
                    await self.converse(message, caller: await self.standing(of: message.sender, on: entry), on: entry)
                }
            }
            return lane
        }
        lane.yield(message)
    }

    /// The sender as a caller, as the store has it now (a store that cannot be read makes no approver).
    func standing(of sender: String, on entry: Entry) async -> ChannelCaller {
        let settings = entry.settings
        let paired = try? await store.channels.sender(sender, of: settings.name)
        return ChannelCaller(
            channel: settings.name,
            sender: sender,
            agent: settings.agent,
            approver: settings.approvers.contains(sender) || paired?.approver == true
        )
    }

    func allowed(_ sender: String, on entry: Entry) async -> Bool {
        if entry.settings.allow.contains(sender) { return true }
        guard let paired = try? await store.channels.sender(sender, of: entry.settings.name) else { return false }
        return paired.revokedAt == nil
    }

    /// One message of a chat: its session's agent runs on it and the answer streams back.
    func converse(_ message: InboundMessage, caller: ChannelCaller, on entry: Entry) async {
        let settings = entry.settings
        guard await allowed(message.sender, on: entry) else {
            await say("Access to this agent was revoked.", in: message.chat, on: entry)
            return
        }
        do {
            let session: Session.ID
            if let known = try await store.channels.session(of: message.chat, on: settings.name) {
                session = known
            } else {
                session = try await agents.createSession(caller, "\(settings.name) \(message.chat)")
                try await store.channels.bind(message.chat, on: settings.name, to: session)
            }
            var content = message.text
            for attachment in message.attachments {
                content += "\n" + (await save(attachment, of: message, session: session, on: entry))
            }
            guard !content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return }
            let reply = StreamingReply(hub: self, entry: entry, chat: message.chat, recipient: message.sender)
            let answer = try await agents.send(session, content, caller) { event in
                switch event {
                case .text(let delta): await reply.append(delta)
                case .approval(let id, let tool, let detail):
                    await self.prompt(
                        approval: id,
                        tool: tool,
                        detail: detail,
                        caller: caller,
                        chat: message.chat,
                        on: entry
                    )
                }
            }
            await reply.finish(answer)
        } catch is CancellationError {
            return
        } catch {
            logger.warning("channel run failed", metadata: ["channel": "\(settings.name)", "error": "\(error)"])
            await say("The agent could not answer: \(error)", in: message.chat, on: entry)
        }
    }

    /// Saves an attachment in the workspace's inbox and says where, or why not.
    func save(
        _ attachment: ChannelAttachment,
        of message: InboundMessage,
        session: Session.ID,
        on entry: Entry
    ) async
        -> String
    {
        let settings = entry.settings
        let name = Self.safeName(attachment.name)
        do {
            let data = try await entry.connector.download(attachment, limit: settings.maxAttachmentBytes)
            let relative = "inbox/\(settings.name)/\(Self.safeName(message.chat))-\(Self.safeName(message.id))-\(name)"
            let file = workspace.appendingPathComponent(relative)
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            // Whatever a stranger's file says is untrusted when an agent reads it: recorded before the file exists, so
            // no crash between the two can leave it in the workspace unmarked.
            try await store.provenance.recordTaintedWrite(relative, session: session, agent: settings.agent)
            try await store.provenance.recordTaintedWrite(file.path, session: session, agent: settings.agent)
            try data.write(to: file, options: .withoutOverwriting)
            return "[attachment saved as \(relative), \(data.count) bytes, untrusted]"
        } catch {
            return "[attachment \(name) not saved: \(error)]"
        }
    }

    /// Shows an approval in the chat: buttons when the chat's sender may answer it, else a note.
    func prompt(
        approval: String,
        tool: String,
        detail: String,
        caller: ChannelCaller,
        chat: String,
        on entry: Entry
    )
        async
    {
        if caller.approver {
            await say(
                "Approval needed: \(tool) \(detail)",
                in: chat,
                on: entry,
                buttons: [
                    ChannelButton(label: "Approve", data: "approve:\(approval)"),
                    ChannelButton(label: "Reject", data: "reject:\(approval)"),
                ]
            )
        } else {
            await say("Waiting for an operator to approve \(tool) (\(approval)).", in: chat, on: entry)
        }
    }

    /// A button press: an approval decided when the one who pressed is an allowed approver.
    func answer(_ press: ButtonPress, on entry: Entry) async {
        let parts = press.data.split(separator: ":", maxSplits: 1).map(String.init)
        var reply = "You may not answer approvals here."
        if parts.count == 2, ["approve", "reject"].contains(parts[0]), await allowed(press.sender, on: entry) {
            let caller = await standing(of: press.sender, on: entry)
            if caller.approver {
                do {
                    try await agents.decide(parts[1], parts[0] == "approve", caller)
                    reply = parts[0] == "approve" ? "Approved." : "Rejected."
                } catch {
                    reply = "Not decided: \(error)"
                }
            }
        }
        do {
            try await entry.connector.acknowledge(press, text: reply)
            try await sent(on: entry, chat: press.chat, recipient: press.sender, message: press.id, edit: false, reply)
        } catch {
            logger.warning("channel acknowledge failed", metadata: ["error": "\(error)"])
        }
    }

    /// Sends `text` (split to fit) to a chat; failures are logged, never thrown: a chat's trouble stays there.
    func say(
        _ text: String,
        in chat: String,
        on entry: Entry,
        buttons: [ChannelButton] = []
    ) async {
        let pieces = entry.connector.dialect.chunks(of: text)
        for (index, piece) in pieces.enumerated() {
            do {
                let id = try await entry.connector.send(
                    piece,
                    to: chat,
                    buttons: index == pieces.count - 1 ? buttons : []
                )
                try await sent(on: entry, chat: chat, recipient: nil, message: id, edit: false, piece)
            } catch {
                logger.warning(
                    "channel send failed",
                    metadata: ["channel": "\(entry.settings.name)", "error": "\(error)"]
                )
                return
            }
        }
    }

    /// The `channel.sent` event of a message or edit.
    func sent(
        on entry: Entry,
        chat: String,
        recipient: String?,
        message: String,
        edit: Bool,
        _ text: String
    )
        async throws
    {
        var payload: [String: JSONValue] = [
            "channel": .string(entry.settings.name), "chat": .string(chat), "message": .string(message),
            "edit": .bool(edit), "characters": .int(text.count),
        ]
        if let recipient { payload["sender"] = .string(recipient) }
        try await store.ledger.append(
            EventDraft(type: .channelSent, actor: .agent(entry.settings.agent), payload: .object(payload))
        )
    }
}
