public import Foundation
public import OspreyCore
public import OspreyStore

extension ChannelHub {
    // MARK: Operators

    /// Pairs the sender a code was given to, and tells them.
    public func pair(code: String, approver: Bool, by actor: Principal) async throws -> ChannelSender {
        let (sender, chat) = try await store.channels.pair(code: Self.normalized(code), approver: approver, by: actor)
        if let entry = entries[sender.channel] {
            await say("Paired: you can talk to this agent now.", in: chat, on: entry)
        }
        return sender
    }

    /// Who the bot is on the channel's platform: a live check of its credentials and base URL.
    public func test(_ name: String) async throws -> ChannelIdentity {
        guard let entry = entries[name] else { throw StoreError.notFound(kind: "channel", id: name) }
        return try await entry.connector.identify()
    }

    // MARK: Helpers

    /// Eight characters from an alphabet without look-alikes (40 bits), shown as `XXXX-XXXX`.
    static func pairingCode() -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        let characters = (0..<8).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] }
        return String(characters[0..<4]) + "-" + String(characters[4..<8])
    }

    /// A code as typed, without separators and case.
    public static func normalized(_ code: String) -> String {
        code.uppercased().filter { $0.isLetter || $0.isNumber }
    }

    /// A file name that is one safe path component: ASCII letters, digits, `-`, `_` and single dots not leading.
    static func safeName(_ name: String) -> String {
        var cleaned = String(
            name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" }.prefix(80)
        )
        while cleaned.contains("..") { cleaned = cleaned.replacingOccurrences(of: "..", with: "_") }
        while cleaned.hasPrefix(".") { cleaned.removeFirst() }
        return cleaned.isEmpty ? "file" : cleaned
    }
}
