import Foundation
import OspreyCore
import OspreyTesting
import Testing

/// Receipts of real sessions, checked offline against `osprey audit export`.
@Suite(.serialized)
struct ReceiptTests {
    let osprey: OspreyExecutable
    init() throws { osprey = try OspreyExecutable.locate() }

    /// An export whose event `seq` carries `payload` instead, every hash after it recomputed so the chain still links.
    static func forged(_ lines: [String], seq: Int, payload: JSONValue) throws -> String {
        var previous = Event.genesisHash
        var out: [String] = []
        for line in lines {
            var event = try #require(Event(envelope: try JSONValue.parse(line)))
            if event.seq == seq { event.payload = payload }
            event.prevHash = previous
            event.hash = event.computedHash
            previous = event.hash
            out.append(event.envelope.canonicalJSON)
        }
        return out.joined(separator: "\n") + "\n"
    }

    @Test func aReceiptVerifiesOfflineAndAnAlteredRangeOrReceiptIsRefused() async throws {
        let model = CLITests.ownMockModel()
        try await model.run { model in
            let home = try TemporaryDirectory(prefix: "osprey-receipt")
            defer { home.remove() }
            try CLITests.configure(home, server: model)
            let args = ["--home", home.path]
            let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            defer { gateway.kill() }
            let session = try await osprey.run(["sessions", "create"] + args).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try await osprey.run(["sessions", "send", session, "hello"] + args).status == 0)
            // Another session's events come between: the receipt covers only its own
            let other = try await osprey.run(["sessions", "create"] + args).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            _ = try await osprey.run(["sessions", "send", other, "noise"] + args)
            #expect(try await osprey.run(["sessions", "send", session, "again"] + args).status == 0)

            let receiptFile = home.url.appendingPathComponent("receipt.json").path
            let made = try await osprey.run(["receipts", "create", "--session", session, "-o", receiptFile] + args)
            #expect(made.status == 0, "\(made.stderr)")
            let receipt = try JSONValue.parse(try String(contentsOfFile: receiptFile, encoding: .utf8))
            #expect(receipt["tokens_in"] == 24 && receipt["tokens_out"] == 8, "\(receipt)")
            #expect(receipt["kind"] == "session" && receipt["subject"] == .string(session))
            let export = home.url.appendingPathComponent("export.jsonl").path
            #expect(try await osprey.run(["audit", "export", "-o", export] + args).status == 0)
            let key = try #require(receipt["public_key"]?.stringValue)
            let ok = try await osprey.run(["receipts", "verify", receiptFile, "--export", export, "--key", key])
            #expect(ok.status == 0 && ok.stdout.hasPrefix("ok: session \(session)"), "\(ok.stdout)\(ok.stderr)")

            // An export with an event of the range altered, its chain recomputed to link again
            let lines = try String(contentsOfFile: export, encoding: .utf8).split(separator: "\n").map(String.init)
            let target = try #require(
                lines.compactMap { Event(envelope: try JSONValue.parse($0)) }
                    .first { $0.session?.rawValue == session && $0.type == .messageUser }
            )
            let forged = home.url.appendingPathComponent("forged.jsonl").path
            try Self.forged(lines, seq: target.seq, payload: ["content": "something else"]).write(
                toFile: forged,
                atomically: true,
                encoding: .utf8
            )
            let refused = try await osprey.run(["receipts", "verify", receiptFile, "--export", forged])
            // (recomputing the chain changes the hash the receipt ends at, so the range no longer matches)
            #expect(
                refused.status != 0 && refused.stderr.contains("is not the one the receipt ends at"),
                "\(refused.stderr)"
            )
            // An export edited without recomputing the chain
            var broken = lines
            broken[target.seq - 1] = broken[target.seq - 1].replacingOccurrences(of: "hello", with: "HELLO")
            try (broken.joined(separator: "\n") + "\n").write(toFile: forged, atomically: true, encoding: .utf8)
            let cut = try await osprey.run(["receipts", "verify", receiptFile, "--export", forged])
            #expect(cut.stderr.contains("chain is broken"), "\(cut.stderr)")
            // A receipt whose claims were edited, and a key that is not the trusted one
            var edited = try #require(receipt.objectValue)
            edited["tokens_out"] = 1
            try JSONValue.object(edited).canonicalJSON.write(
                toFile: receiptFile + ".edited",
                atomically: true,
                encoding: .utf8
            )
            let unsigned = try await osprey.run(["receipts", "verify", receiptFile + ".edited", "--export", export])
            #expect(unsigned.stderr.contains("signature does not match"), "\(unsigned.stderr)")
            let stranger = try await osprey.run(
                ["receipts", "verify", receiptFile, "--export", export, "--key", String(repeating: "ab", count: 32)]
            )
            #expect(stranger.stderr.contains("another key"))
            let none = try await osprey.run(["receipts", "create", "--session", "ses_nope"] + args)
            #expect(none.status != 0 && none.stderr.contains("no events"))

            // An incident followed from the CLI, its steps pointing at ledger events
            let incident = try await osprey.run(
                ["incidents", "create", "--severity", "high", "answers look odd"] + args
            )
            let incidentID = incident.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(incidentID.hasPrefix("inc_"), "\(incident.stderr)")
            let step = try await osprey.run(
                [
                    "incidents", "step", incidentID, "--kind", "observation", "--event", String(target.seq),
                    "--command",
                    "osprey audit export", "the first answer came from the mock",
                ] + args
            )
            #expect(step.stdout.contains("(1 steps)"), "\(step.stderr)")
            _ = try await osprey.run(["incidents", "resolve", incidentID, "expected: a mock model"] + args)
            let shown = try await osprey.run(["incidents", "show", incidentID] + args)
            #expect(shown.stdout.contains("1. [observation] the first answer came from the mock  events \(target.seq)"))
            #expect(shown.stdout.contains("resolved: expected: a mock model"), "\(shown.stdout)")

            // The incident's receipt: its own events and the event its step points at, verified offline
            let incidentReceipt = home.url.appendingPathComponent("incident-receipt.json").path
            let signed = try await osprey.run(
                ["receipts", "create", "--incident", incidentID, "-o", incidentReceipt] + args
            )
            #expect(signed.status == 0, "\(signed.stderr)")
            let body = try JSONValue.parse(try String(contentsOfFile: incidentReceipt, encoding: .utf8))
            #expect(body["kind"] == "incident" && body["ledger"]?["linked"] == [.int(target.seq)], "\(body)")
            #expect(body["ledger"]?["events"] == 4)  // created, step, resolved, and the linked message
            #expect(body["effects"]?["commands"] == ["osprey audit export"])
            #expect(try await osprey.run(["audit", "export", "-o", export] + args).status == 0)
            let verified = try await osprey.run(["receipts", "verify", incidentReceipt, "--export", export])
            #expect(
                verified.status == 0 && verified.stdout.hasPrefix("ok: incident \(incidentID)"),
                "\(verified.stderr)"
            )
            // The linked event altered in an export whose chain was recomputed: refused
            let latest = try String(contentsOfFile: export, encoding: .utf8).split(separator: "\n").map(String.init)
            try Self.forged(latest, seq: target.seq, payload: ["content": "rewritten"]).write(
                toFile: forged,
                atomically: true,
                encoding: .utf8
            )
            let altered = try await osprey.run(["receipts", "verify", incidentReceipt, "--export", forged])
            #expect(altered.status != 0, "\(altered.stdout)")
            let unknownIncident = try await osprey.run(["receipts", "create", "--incident", "inc_nope"] + args)
            #expect(unknownIncident.status != 0 && unknownIncident.stderr.contains("no incident inc_nope"))
        }
    }
}
