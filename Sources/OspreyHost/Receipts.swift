public import Crypto
public import Foundation
public import OspreyCore
public import OspreyStore

/// Receipts: signed statements of what an agent did in a task, a session or an incident, drawn from the ledger.
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

    /// Builds and signs the receipt of a task (its own events), a session (every event of it) or an incident (its
    /// `incident.*` events and the events its steps point at, listed in the receipt as `ledger.linked`).
    public static func make(
        store: Store,
        task: BackgroundTask.ID? = nil,
        session: Session.ID? = nil,
        incident: IncidentRecord.ID? = nil,
        key: Curve25519.Signing.PrivateKey,
        now: Date = Date()
    ) async throws -> JSONValue {
        guard [task != nil, session != nil, incident != nil].filter({ $0 }).count == 1 else {
            throw ReceiptError("a receipt is of one task, one session or one incident")
        }
        var events: [Event]
        var linked: [Int] = []
        var input: String?
        let kind: String
        let subject: String
        if let incident {
            let record: IncidentRecord
            do {
                record = try await store.incidents.get(incident)
            } catch {
                throw ReceiptError("no incident \(incident.rawValue)")
            }
            (kind, subject, input) = ("incident", incident.rawValue, record.title)
            events = try await allEvents(store, EventFilter(type: "incident.*")).filter {
                $0.payload["incident"]?.stringValue == incident.rawValue
            }
            linked = Array(Set(record.steps.flatMap(\.events))).sorted()
            for seq in linked where !events.contains(where: { $0.seq == seq }) {
                events += try await store.ledger.events(after: seq - 1, limit: 1)
            }
            events.sort { $0.seq < $1.seq }
        } else {
            kind = task == nil ? "session" : "task"
            subject = task?.rawValue ?? session!.rawValue
            events = try await allEvents(store, EventFilter(session: session, task: task))
            if let task { input = try await store.tasks.get(task).instructions }
        }
        guard let first = events.first, let last = events.last else {
            throw ReceiptError("the ledger holds no events of \(kind) \(subject)")
        }
        var receipt = summary(of: events, input: input)
        receipt["version"] = 1
        receipt["kind"] = .string(kind)
        receipt["subject"] = .string(subject)
        receipt["issued_at"] = .string(WireFormat.timestamp(now))
        var ledger: [String: JSONValue] = [
            "first_seq": .int(first.seq), "last_seq": .int(last.seq), "last_hash": .string(last.hash),
            "events": .int(events.count), "events_sha256": .string(digest(events)),
        ]
        if kind == "incident" { ledger["linked"] = .array(linked.map(JSONValue.int)) }
        receipt["ledger"] = .object(ledger)
        receipt["public_key"] = .string(key.publicKey.rawRepresentation.hexString)
        let signature = try key.signature(for: signedBytes(.object(receipt)))
        receipt["signature"] = .string(signature.base64EncodedString())
        return .object(receipt)
    }

    /// The bytes a signature covers: the receipt's canonical JSON with every whole number written as an integer, so
    /// that a carrier that writes `0.0` as `0` (JavaScript, Foundation's encoder) leaves the signature valid.
    static func signedBytes(_ receipt: JSONValue) -> Data {
        func normalized(_ value: JSONValue) -> JSONValue {
            switch value {
            case .double(let number) where number.rounded() == number && abs(number) < 9e15: .int(Int(number))
            case .array(let items): .array(items.map(normalized))
            case .object(let members): .object(members.mapValues(normalized))
            default: value
            }
        }
        return Data(normalized(receipt).canonicalJSON.utf8)
    }

    /// Every event `filter` passes, in pages.
    static func allEvents(_ store: Store, _ filter: EventFilter) async throws -> [Event] {
        var events: [Event] = []
        var after = 0
        while true {
            let page = try await store.ledger.events(after: after, filter: filter, limit: 500)
            events += page
            guard let last = page.last, page.count == 500 else { return events }
            after = last.seq
        }
    }

    /// Whether `event` belongs to the receipt's subject: by task, by session, or an incident's own and linked events.
    static func covers(_ event: Event, kind: String, subject: String, linked: Set<Int>) -> Bool {
        switch kind {
        case "task": event.task?.rawValue == subject
        case "session": event.session?.rawValue == subject
        default:
            (event.type.rawValue.hasPrefix("incident.") && event.payload["incident"]?.stringValue == subject)
                || linked.contains(event.seq)
        }
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
            case .incidentStep:
                if let command = payload["command"] { commands.append(command) }
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
            key.isValidSignature(signature, for: signedBytes(.object(body)))
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
        let linked = Set(ledger["linked"]?.arrayValue?.compactMap(\.intValue) ?? [])
        let covered = export.filter { event in
            (firstSeq...lastSeq).contains(event.seq) && covers(event, kind: kind, subject: subject, linked: linked)
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
