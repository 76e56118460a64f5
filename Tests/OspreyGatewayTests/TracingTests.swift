import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OspreyCore
import OspreyGateway
import OspreyStore
import OspreyTesting
import OspreyTools
import ServiceLifecycle
import Synchronization
import Testing

/// Optional tracing: spans told from the ledger, exported by swift-otel over OTLP/HTTP (JSON) to an in-process
/// receiver that keeps what it is sent.
struct TracingTests {
    /// An OTLP/HTTP receiver on loopback: every span it is sent, as JSON.
    final class Receiver: Sendable {
        let spans = Mutex<[JSONValue]>([])

        func router() -> Router<BasicRequestContext> {
            let router = Router()
            router.post("/v1/traces") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 16 << 20)
                let export = try JSONValue.parse(body.readableBytesView)
                var received: [JSONValue] = []
                for resource in export["resourceSpans"]?.arrayValue ?? [] {
                    for scope in resource["scopeSpans"]?.arrayValue ?? [] {
                        received += scope["spans"]?.arrayValue ?? []
                    }
                }
                self.spans.withLock { $0 += received }
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: "{}"))
                )
            }
            return router
        }

        func named(_ name: String) -> [JSONValue] { spans.withLock { $0 }.filter { $0["name"]?.stringValue == name } }
    }

    /// A span attribute's value, whatever OTLP JSON type carries it.
    static func attribute(_ span: JSONValue, _ key: String) -> String? {
        guard let value = span["attributes"]?.arrayValue?.first(where: { $0["key"]?.stringValue == key })?["value"]
        else { return nil }
        for kind in ["stringValue", "intValue", "boolValue", "doubleValue"] {
            if let scalar = value[kind] {
                return scalar.stringValue ?? scalar.intValue.map(String.init) ?? scalar.canonicalJSON
            }
        }
        return nil
    }

    @Test(.timeLimit(.minutes(3))) func aRunsSpansReachAnOTLPReceiverWithTheirEventsSeqs() async throws {
        let receiver = Receiver()
        let port = freeLoopbackPort()
        let collector = Application(
            router: receiver.router(),
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            logger: Logger(label: "collector")
        )
        var config = OspreyConfig()
        config.tracing.enabled = true
        config.tracing.endpoint = "http://127.0.0.1:\(port)/v1/traces"
        config.tracing.protocol = "http/json"
        config.tracing.batchMilliseconds = 50
        config.scriptedAgent(tools: ["read_file"])
        let provider = ScriptedProvider(messages: [
            .toolCall("read_file", #"{"path":"notes.txt"}"#), .assistant("The notes say: ospreys."),
        ])
        let gateway = try await TestGateway(config: config, provider: provider)
        try "ospreys".write(
            to: gateway.kernel.runtime.workspace.root.appendingPathComponent("notes.txt"),
            atomically: true,
            encoding: .utf8
        )
        let tracing = try #require(
            gateway.kernel.services(logger: Logger(label: "test")).first { "\(type(of: $0))" == "TracingService" }
        )
        let subscribers = gateway.store.ledger.bus.subscriberCount
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await collector.runService() }
            group.addTask { try await tracing.run() }
            defer { group.cancelAll() }
            try await TestRuns.waitUntil { IPv4Socket.accepts(port: port) }
            // The tracer tells only what comes after it starts following the ledger: wait until it listens.
            try await TestRuns.waitUntil { gateway.store.ledger.bus.subscriberCount > subscribers }
            let session = try await gateway.store.sessions.create(agent: "default", actor: .user("test"))
            try await gateway.app().test(.router) { client in
                let sent = try await client.post("/api/sessions/\(session.id)/messages", #"{"content":"read"}"#)
                #expect(sent.status == .ok)
            }
            try await TestRuns.waitUntil { receiver.named("osprey.run").count == 1 }
        }
        let run = try #require(receiver.named("osprey.run").first)
        let calls = receiver.named("osprey.llm_call")
        let tool = try #require(receiver.named("osprey.tool_call").first)
        let decision = try #require(receiver.named("osprey.policy_decision").first)
        #expect(calls.count == 2)
        // One trace: the model calls and the tool call under the run, the decision under its tool call.
        #expect(calls.allSatisfy { $0["parentSpanId"] == run["spanId"] && $0["traceId"] == run["traceId"] })
        #expect(tool["parentSpanId"] == run["spanId"] && decision["parentSpanId"] == tool["spanId"])
        #expect(Self.attribute(tool, "osprey.tool") == "read_file")
        #expect(Self.attribute(decision, "osprey.policy.verdict") == "allow")
        #expect(calls.allSatisfy { Self.attribute($0, "gen_ai.request.model") == "test" })
        // Each span carries the seq of its event in the ledger.
        let events = try await gateway.store.ledger.events(limit: 500)
        func seq(_ type: Event.Kind) -> [String] { events.filter { $0.type == type }.map { String($0.seq) } }
        #expect(calls.compactMap { Self.attribute($0, "osprey.event.seq") }.sorted() == seq(.llmCall).sorted())
        #expect(Self.attribute(run, "osprey.event.seq") == seq(.messageUser).first)
        #expect(Self.attribute(run, "osprey.event.end_seq") == seq(.messageAssistant).last)
        #expect(Self.attribute(tool, "osprey.event.seq") == seq(.toolCallRequested).first)
        #expect(Self.attribute(decision, "osprey.event.seq") == seq(.policyDecision).first)
    }
}
