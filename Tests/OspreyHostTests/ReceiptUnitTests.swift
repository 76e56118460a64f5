import Crypto
import Foundation
import OspreyCore
import OspreyHost
import OspreyStore
import Testing

/// Receipts made and verified in process: an incident's receipt covers its own events and the ones its steps link.
struct ReceiptUnitTests {
    @Test func anIncidentsReceiptSurvivesACarrierThatRewritesNumbersAndVerifies() async throws {
        let store = try Store.inMemory()
        let noise = try await store.ledger.append(EventDraft(type: .heartbeatTick, payload: ["n": 1]))
        let observed = try await store.ledger.append(EventDraft(type: .heartbeatTick, payload: ["n": 2]))
        let incident = try await store.incidents.create(title: "slow disk", severity: "low", actor: .system)
        _ = try await store.incidents.step(
            incident.id,
            kind: "observation",
            text: "iowait high",
            events: [observed.seq],
            command: "iostat -x",
            actor: .system
        )
        _ = try await store.incidents.resolve(incident.id, summary: "a scrub was running", actor: .system)
        let key = Curve25519.Signing.PrivateKey()
        let receipt = try await Receipts.make(store: store, incident: incident.id, key: key)
        // Through text, as a file would carry it, by a writer that drops the `.0` of whole numbers (cost 0.0).
        let carried = try JSONValue.parse(receipt.canonicalJSON.replacingOccurrences(of: ".0,", with: ","))
        #expect(carried["cost_usd"] == 0 && receipt["cost_usd"] == .double(0))
        let export = try await store.ledger.events(limit: 1000)
        let result = Receipts.verify(carried, export: export, trustedKey: nil)
        #expect(result.ok, "\(result.reason ?? "") \(receipt.canonicalJSON)")
        #expect(carried["ledger"]?["events"] == 4 && carried["ledger"]?["linked"] == [.int(observed.seq)])
        #expect(carried["effects"]?["commands"] == ["iostat -x"])
        #expect(noise.seq < observed.seq)
        await #expect(throws: ReceiptError.self) {
            try await Receipts.make(store: store, incident: IncidentRecord.ID("inc_nope"), key: key)
        }
    }
}
