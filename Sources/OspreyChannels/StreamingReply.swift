import Foundation
import Logging
import OspreyCore

/// An answer streamed into one message: sent at its first words, edited at most every `edit_interval_ms`, and at
/// the end replaced by the answer's first piece, the other pieces sent after it.
actor StreamingReply {
    let hub: ChannelHub
    let entry: ChannelHub.Entry
    let chat: String
    let recipient: String
    var text = ""
    var message: String?
    var shown = ""
    var lastEdit = ContinuousClock.now

    init(hub: ChannelHub, entry: ChannelHub.Entry, chat: String, recipient: String) {
        self.hub = hub
        self.entry = entry
        self.chat = chat
        self.recipient = recipient
    }

    var interval: Duration { .milliseconds(entry.settings.editIntervalMilliseconds) }

    func append(_ delta: String) async {
        text += delta
        // Between edits a delta only grows the text: the message is measured and cut when it is shown.
        guard message == nil || ContinuousClock.now - lastEdit >= interval else { return }
        let visible = entry.connector.dialect.firstChunk(of: text)
        guard !visible.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, visible != shown else { return }
        await show(visible)
    }

    func finish(_ answer: String) async {
        let pieces = entry.connector.dialect.chunks(of: answer.isEmpty ? "(no answer)" : answer)
        if pieces[0] != shown { await show(pieces[0]) }
        for piece in pieces.dropFirst() {
            do {
                let id = try await entry.connector.send(piece, to: chat, buttons: [])
                try await hub.sent(on: entry, chat: chat, recipient: recipient, message: id, edit: false, piece)
            } catch {
                hub.logger.warning("channel send failed", metadata: ["error": "\(error)"])
                return
            }
        }
    }

    /// Sends the message or edits it to `visible`.
    func show(_ visible: String) async {
        do {
            if let message {
                try await entry.connector.edit(message, in: chat, text: visible)
                try await hub.sent(on: entry, chat: chat, recipient: recipient, message: message, edit: true, visible)
            } else {
                let id = try await entry.connector.send(visible, to: chat, buttons: [])
                message = id
                try await hub.sent(on: entry, chat: chat, recipient: recipient, message: id, edit: false, visible)
            }
            shown = visible
            lastEdit = ContinuousClock.now
        } catch {
            hub.logger.warning("channel send failed", metadata: ["error": "\(error)"])
        }
    }
}
