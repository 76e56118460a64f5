public import Crypto
public import Foundation
public import OspreyCore
public import OspreyStore

/// Receipts: signed statements of what an agent did in a task or a session, drawn from the ledger.
///
/// A receipt holds the input's hash, every tool call with its policy decision, the effects (commands run, files
/// written, safe switches), tokens and cost, and the ledger range it covers: its first and last seq, the hash of its
/// last event, and the SHA-256 over the hashes of the subject's events in it. It is signed with the gateway's
/// Ed25519 identity key (`secrets/identity.key`) over its canonical JSON. ``verify(_:export:trustedKey:)`` checks it
/// offline against an export of the ledger (`osprey audit export`): the signature, the export's chain, and that the
/// export's events give the same range, head and digest.
public enum Receipts {
    /// The gateway's identity key, from the home's `secrets/identity.key` (64 hex digits).
    public static func identityKey(home: Home) throws -> Curve25519.Signing.PrivateKey {
        let file = home.identityKeyFile
        guard let text = try? String(contentsOf: file, encoding: .utf8), let bytes = Home.parseKey(text) else {
            throw ReceiptError("no identity key at \(file.path): start the gateway once to create it")
        }
        return try Curve25519.Signing.PrivateKey(rawRepresentation: bytes)
    }

    /// Builds and signs the receipt of a task (its own events) or a session (every event of it).
    public static func make(
        store: Store,
        task: BackgroundTask.ID? = nil,
        session: Session.ID? = nil,
        key: Curve25519.Signing.PrivateKey,
        now: Date = Date()
    ) async throws -> JSONValue {
        guard (task == nil) != (session == nil) else { throw ReceiptError("a receipt is of one task or one session") }
        let filter = EventFilter(session: session, task: task)
        var events: [Event] = []
        var after = 0
        while true {
            let page = try await store.ledger.events(after: after, filter: filter, limit: 500)
            events += page
            guard let last = page.last, page.count == 500 else { break }
            after = last.seq
        }
        guard let first = events.first, let last = events.last else {
            throw ReceiptError("the ledger holds no events of \(task.map { "task \($0)" } ?? "session \(session!)")")
        }
        var input: String?
        if let task { input = try await store.tasks.get(task).instructions }
        let body = summary(of: events, input: input)
        var receipt = body
        receipt["version"] = 1
        receipt["kind"] = .string(task == nil ? "session" : "task")
        receipt["subject"] = .string(task?.rawValue ?? session!.rawValue)
        receipt["issued_at"] = .string(WireFormat.timestamp(now))
        receipt["ledger"] = [
            "first_seq": .int(first.seq), "last_seq": .int(last.seq), "last_hash": .string(last.hash),
            "events": .int(events.count), "events_sha256": .string(digest(events)),
        ]
        receipt["public_key"] = .string(key.publicKey.rawRepresentation.hexString)
        let signature = try key.signature(for: Data(JSONValue.object(receipt).canonicalJSON.utf8))
        receipt["signature"] = .string(signature.base64EncodedString())
        return .object(receipt)
    }

    /// What the subject's events say it did.
    static func summary(of events: [Event], input: String?) -> [String: JSONValue] {
        var tools: [JSONValue] = []
        var commands: [JSONValue] = []
        var files: [JSONValue] = []
        var switches: [JSONValue] = []
        var tokensIn = 0
        var tokensOut = 0
        var cost = 0.0
        var agent: String?
        var prompt = input
        for event in events {
            let payload = event.payload
            switch event.type {
            case .policyDecision:
                agent = agent ?? payload["agent"]?.stringValue
                tools.append([
                    "tool": payload["tool"] ?? .null, "call_id": payload["call_id"] ?? .null,
                    "verdict": payload["verdict"] ?? .null, "rule": payload["rule"] ?? .null, "seq": .int(event.seq),
                ])
            case .toolCallRequested:
                let arguments = payload["arguments"]?.stringValue.flatMap { try? JSONValue.parse($0) }
                switch payload["tool"]?.stringValue {
                case "run_command": commands.append(arguments?["command"] ?? .null)
                case "write_file", "edit_file": files.append(arguments?["path"] ?? .null)
                case "safe_switch": switches.append(arguments?["action"] ?? .null)
                default: break
                }
            case .llmCall:
                tokensIn += payload["tokens_in"]?.intValue ?? 0
                tokensOut += payload["tokens_out"]?.intValue ?? 0
                cost += payload["cost_usd"]?.doubleValue ?? 0
            case .messageUser where prompt == nil:
                prompt = payload["content"]?.stringValue ?? payload.canonicalJSON
            default:
                break
            }
        }
        return [
            "agent": agent.map(JSONValue.string) ?? .null,
            "input_sha256": prompt.map { .string(Event.sha256Hex($0)) } ?? .null, "tools": .array(tools),
            "effects": ["commands": .array(commands), "files_written": .array(files), "switches": .array(switches)],
            "tokens_in": .int(tokensIn), "tokens_out": .int(tokensOut),
            "cost_usd": .double((cost * 1e6).rounded() / 1e6),
        ]
    }

    /// SHA-256 over the events' hashes, in order, one per line.
    static func digest(_ events: [Event]) -> String {
        Event.sha256Hex(events.map(\.hash).joined(separator: "\n"))
    }

    /// Checks a receipt offline: its signature (by `trustedKey` when given, else by the key it names), the export's
    /// hash chain, and that the export's events of the subject in the receipt's range are the ones it covers.
    public static func verify(_ receipt: JSONValue, export: [Event], trustedKey: String?) -> ReceiptVerification {
        guard var body = receipt.objectValue, let signatureText = body.removeValue(forKey: "signature")?.stringValue,
            let signature = Data(base64Encoded: signatureText), let keyHex = receipt["public_key"]?.stringValue
        else { return .init(ok: false, reason: "not a signed receipt") }
        if let trustedKey, trustedKey.lowercased() != keyHex.lowercased() {
            return .init(ok: false, reason: "signed by another key than the one trusted")
        }
        guard let keyBytes = [UInt8](hexString: keyHex),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: keyBytes),
            key.isValidSignature(signature, for: Data(JSONValue.object(body).canonicalJSON.utf8))
        else { return .init(ok: false, reason: "the signature does not match the receipt") }
        // The export must be one unbroken chain from the first event.
        var previous = Event.genesisHash
        for (index, event) in export.enumerated() {
            guard event.seq == index + 1, event.prevHash == previous, event.hash == event.computedHash else {
                return .init(ok: false, reason: "the export's chain is broken at seq \(event.seq)")
            }
            previous = event.hash
        }
        guard let ledger = receipt["ledger"], let firstSeq = ledger["first_seq"]?.intValue,
            let lastSeq = ledger["last_seq"]?.intValue, let kind = receipt["kind"]?.stringValue,
            let subject = receipt["subject"]?.stringValue
        else { return .init(ok: false, reason: "the receipt has no ledger range") }
        let covered = export.filter { event in
            (firstSeq...lastSeq).contains(event.seq)
                && (kind == "task" ? event.task?.rawValue == subject : event.session?.rawValue == subject)
        }
        guard let last = export.first(where: { $0.seq == lastSeq }), last.hash == ledger["last_hash"]?.stringValue
        else {
            return .init(ok: false, reason: "the export's event \(lastSeq) is not the one the receipt ends at")
        }
        guard covered.count == ledger["events"]?.intValue, digest(covered) == ledger["events_sha256"]?.stringValue
        else {
            return .init(ok: false, reason: "the export's events of \(kind) \(subject) differ from the receipt's")
        }
        let recomputed = summary(of: covered, input: nil)
        for key in ["tools", "effects", "tokens_in", "tokens_out"] where recomputed[key] != receipt[key] {
            return .init(ok: false, reason: "the receipt's \(key) differ from what its events say")
        }
        return .init(ok: true, reason: nil)
    }
}

public struct ReceiptVerification: Sendable, Equatable {
    public var ok: Bool
    public var reason: String?
}

public struct ReceiptError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
