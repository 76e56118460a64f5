import Foundation
import Logging
import OTel
import OspreyCore
import OspreyStore
import ServiceContextModule
import ServiceLifecycle
import Tracing

/// OpenTelemetry traces told from the ledger (`[tracing] enabled`): a span per run, per model call, per tool call
/// and per policy decision, each with the seq of the event it comes from (`osprey.event.seq`, and
/// `osprey.event.end_seq` for the event that ended it), exported by swift-otel over OTLP/HTTP.
///
/// The spans are written from the committed events, not from the code paths, so a trace and the audit trail tell
/// the same story, the domain modules stay free of tracing, and a span's times are the events' own: a task span
/// runs from `task.started` to its end; a run from its `message.user` to the answer (`message.assistant` without
/// tool calls) or `run.failed|cancelled|interrupted`, under its task's span; a model call from its `llm.call`
/// (ending then, starting `duration_ms` before) under its run; a tool call from `tool.call.requested` to its result;
/// a policy decision as an instant under its tool call.
struct TracingService: Service {
    let settings: OspreyConfig.Tracing
    let ledger: Ledger
    let logger: Logger

    func run() async throws {
        var configuration = OTel.Configuration.default
        configuration.serviceName = settings.serviceName
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.endpoint = settings.endpoint
        configuration.traces.otlpExporter.protocol = settings.protocol == "http/json" ? .httpJSON : .httpProtobuf
        configuration.traces.batchSpanProcessor.scheduleDelay = .milliseconds(settings.batchMilliseconds)
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await backend.service.run() }
            group.addTask { try await Self.follow(ledger, tracer: backend.factory, logger: logger) }
            // The exporter runs until the gateway shuts down; following the ledger ends first, and the exporter
            // then sends what is left as it stops.
            try await group.next()
            group.cancelAll()
        }
    }

    /// Follows the ledger from now on, turning events into spans, until cancelled.
    static func follow<T: Tracer>(_ ledger: Ledger, tracer: T, logger: Logger) async throws {
        let start = try await ledger.lastSeq()
        try await cancelWhenGracefulShutdown {
            var spans = SpanBook(tracer: tracer)
            defer { spans.endAll() }
            try await ledger.follow(after: start) { event in spans.observe(event) }
        }
    }
}

/// The open spans, by what ends them, and the rules that open and close them.
struct SpanBook<T: Tracer> {
    let tracer: T
    private var tasks: [String: T.Span] = [:]
    private var runs: [String: T.Span] = [:]
    private var tools: [String: T.Span] = [:]
    /// A bound on the open spans, should ends go missing (a crash between a start and its end).
    static var limit: Int { 10_000 }

    init(tracer: T) { self.tracer = tracer }

    /// An event's time as a tracer instant.
    struct Instant: TracerInstant {
        var nanosecondsSinceEpoch: UInt64
        static func < (a: Instant, b: Instant) -> Bool { a.nanosecondsSinceEpoch < b.nanosecondsSinceEpoch }

        init(_ event: Event, minus milliseconds: Int = 0) {
            let date = WireFormat.date(from: event.ts) ?? Date()
            let nanoseconds = max(0, date.timeIntervalSince1970 * 1e9 - Double(milliseconds) * 1e6)
            nanosecondsSinceEpoch = UInt64(nanoseconds)
        }
    }

    mutating func observe(_ event: Event) {
        let session = event.session?.rawValue
        let payload = event.payload
        switch event.type {
        case .taskStarted:
            guard let task = event.task?.rawValue else { return }
            tasks.removeValue(forKey: task)?.end(at: Instant(event))
            tasks[task] = start("osprey.task", event, parent: nil) { attributes in
                attributes["osprey.task.id"] = task
            }
        case .taskCompleted, .taskFailed, .taskCancelled:
            guard let task = event.task?.rawValue, let span = tasks.removeValue(forKey: task) else { return }
            finish(span, event, failed: event.type != .taskCompleted)
        case .messageUser:
            guard let session else { return }
            runs.removeValue(forKey: session)?.end(at: Instant(event))
            runs[session] = start("osprey.run", event, parent: event.task.flatMap { tasks[$0.rawValue] }) {
                $0["osprey.session"] = session
            }
        case .messageAssistant:
            let content = payload["message"]?["content"]?.arrayValue ?? []
            guard let session, !content.contains(where: { $0["type"] == "tool_call" }),
                let span = runs.removeValue(forKey: session)
            else { return }
            finish(span, event, failed: false)
        case .runFailed, .runCancelled, .runInterrupted:
            guard let session, let span = runs.removeValue(forKey: session) else { return }
            finish(span, event, failed: true)
        case .llmCall:
            let milliseconds = payload["duration_ms"]?.intValue ?? 0
            let span = tracer.startSpan(
                "osprey.llm_call",
                context: context(parent: parent(session: session, task: event.task)),
                ofKind: .client,
                at: Instant(event, minus: milliseconds)
            )
            span.attributes["osprey.event.seq"] = event.seq
            span.attributes["gen_ai.system"] = payload["provider"]?.stringValue ?? ""
            span.attributes["gen_ai.request.model"] = payload["model"]?.stringValue ?? ""
            span.attributes["gen_ai.usage.input_tokens"] = payload["tokens_in"]?.intValue ?? 0
            span.attributes["gen_ai.usage.output_tokens"] = payload["tokens_out"]?.intValue ?? 0
            span.attributes["osprey.cost_usd"] = payload["cost_usd"]?.doubleValue ?? 0
            let outcome = payload["outcome"]?.stringValue ?? "ok"
            span.attributes["osprey.outcome"] = outcome
            if outcome != "ok" { span.setStatus(SpanStatus(code: .error, message: payload["error"]?.stringValue)) }
            span.end(at: Instant(event))
        case .toolCallRequested:
            guard let call = payload["call_id"]?.stringValue else { return }
            let key = "\(session ?? "")/\(call)"
            tools.removeValue(forKey: key)?.end(at: Instant(event))
            tools[key] = start("osprey.tool_call", event, parent: parent(session: session, task: event.task)) {
                $0["osprey.tool"] = payload["tool"]?.stringValue ?? ""
                $0["osprey.tool.call_id"] = call
            }
        case .toolCallCompleted, .toolCallFailed, .toolCallInterrupted:
            guard let call = payload["call_id"]?.stringValue,
                let span = tools.removeValue(forKey: "\(session ?? "")/\(call)")
            else { return }
            span.attributes["osprey.tool.untrusted_output"] = payload["untrusted"]?.boolValue ?? false
            finish(span, event, failed: event.type != .toolCallCompleted)
        case .policyDecision:
            let call = payload["call_id"]?.stringValue.flatMap { tools["\(session ?? "")/\($0)"] }
            let span = start(
                "osprey.policy_decision",
                event,
                parent: call ?? parent(session: session, task: event.task)
            ) {
                $0["osprey.tool"] = payload["tool"]?.stringValue ?? ""
                $0["osprey.policy.verdict"] = payload["verdict"]?.stringValue ?? ""
                $0["osprey.policy.rule"] = payload["rule"]?.stringValue ?? ""
                $0["osprey.policy.risk"] = payload["risk"]?.stringValue ?? ""
            }
            span.end(at: Instant(event))
        default:
            return
        }
        if tasks.count + runs.count + tools.count > Self.limit { endAll() }
    }

    /// Ends every open span (at shutdown, or past the bound).
    mutating func endAll() {
        for span in Array(tasks.values) + Array(runs.values) + Array(tools.values) { span.end() }
        tasks = [:]
        runs = [:]
        tools = [:]
    }

    private func parent(session: String?, task: BackgroundTask.ID?) -> T.Span? {
        session.flatMap { runs[$0] } ?? task.flatMap { tasks[$0.rawValue] }
    }

    private func context(parent: T.Span?) -> ServiceContext { parent?.context ?? .topLevel }

    private func start(
        _ name: String,
        _ event: Event,
        parent: T.Span?,
        _ attributes: (inout SpanAttributes) -> Void
    ) -> T.Span {
        let span = tracer.startSpan(name, context: context(parent: parent), ofKind: .internal, at: Instant(event))
        span.attributes["osprey.event.seq"] = event.seq
        if let agent = event.payload["agent"]?.stringValue { span.attributes["osprey.agent"] = agent }
        attributes(&span.attributes)
        return span
    }

    private func finish(_ span: T.Span, _ event: Event, failed: Bool) {
        span.attributes["osprey.event.end_seq"] = event.seq
        if failed {
            let reason = event.payload["error"]?.stringValue ?? event.payload["reason"]?.stringValue
            span.setStatus(SpanStatus(code: .error, message: reason ?? event.type.rawValue))
        }
        span.end(at: Instant(event))
    }
}
