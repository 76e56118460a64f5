import Foundation
import HTTPTypes
import HummingbirdTesting
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import Testing

struct IncidentsAPITests {
    @Test func anIncidentIsOpenedFollowedStepByStepAndResolved() async throws {
        let gateway = try await TestGateway()
        try await gateway.app().test(.router) { client in
            let created = try await client.post("/api/incidents", #"{"title":"disk filling up","severity":"high"}"#)
            #expect(created.status == .created, "\(created.json)")
            let id = try #require(created.json["id"]?.stringValue)
            let head = try await gateway.store.ledger.lastSeq()
            let observed = try await client.post(
                "/api/incidents/\(id)/steps",
                #"{"kind":"observation","text":"/var is 97% full","events":[\#(head)],"command":"df -h /var"}"#
            )
            #expect(observed.json["steps"]?.arrayValue?.first?["events"] == [.int(head)], "\(observed.json)")
            let unknown = try await client.post(
                "/api/incidents/\(id)/steps",
                #"{"kind":"action","text":"x","events":[999999]}"#
            )
            #expect(
                unknown.status == .badRequest
                    && unknown.json["error"]?["message"]?.stringValue?.contains("no event 999999") == true
            )
            let badKind = try await client.post("/api/incidents/\(id)/steps", #"{"kind":"guess","text":"x"}"#)
            #expect(badKind.status == .badRequest)
            _ = try await client.post("/api/incidents/\(id)/steps", #"{"kind":"action","text":"rotated the logs"}"#)
            let resolved = try await client.post("/api/incidents/\(id)/resolve", #"{"summary":"log rotation was off"}"#)
            #expect(resolved.json["status"] == "resolved" && resolved.json["steps"]?.arrayValue?.count == 2)
            let late = try await client.post("/api/incidents/\(id)/steps", #"{"kind":"result","text":"late"}"#)
            #expect(late.status == .conflict)
            let again = try await client.post("/api/incidents/\(id)/resolve", #"{"summary":"twice"}"#)
            #expect(again.status == .conflict)
            let missing = try await client.execute(
                uri: "/api/incidents/inc_nope",
                method: .get,
                headers: TestGateway.auth()
            ) { $0 }
            #expect(missing.status == .notFound)
            let events = try await gateway.store.ledger.events(filter: EventFilter(type: "incident.*"))
            #expect(
                events.map(\.type.rawValue) == [
                    "incident.created", "incident.step", "incident.step", "incident.resolved",
                ]
            )
        }
    }
}
