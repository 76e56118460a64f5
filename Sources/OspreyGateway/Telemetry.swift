import CoreMetrics
public import Foundation
import OspreyCore
import OspreySandbox
import OspreyStore
public import Prometheus

/// The gateway's metrics, in the Prometheus text format at `/metrics` (swift-prometheus), one registry per kernel.
///
/// Three sources feed it. What the ledger records is counted from the ledger itself (``LedgerMetrics``): LLM calls,
/// tokens, cost and latencies from `llm.call`, tool calls and denials from `policy.decision`, approvals, task queue
/// waits, events by type; so a metric never disagrees with the audit trail. What only the code sees is measured
/// where it happens through swift-metrics with this registry's factory: the store's write latency (every ledger
/// append), memory search latency, open SSE and WebSocket streams. What is a state, not a flow, is read when scraped:
/// approvals pending, tasks by status, the sandbox rung, uptime.
public final class Telemetry: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory whose metrics land in ``registry``: give it to the store and the memory bank.
    public let factory: PrometheusMetricsFactory

    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // From a fast commit (sub-millisecond) to a slow model call (a minute).
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
            .milliseconds(250), .seconds(1), .milliseconds(2500), .seconds(10), .seconds(30), .seconds(60),
        ]
        self.registry = registry
        self.factory = factory
    }

    /// The gauge of the streams open now through one door (`sse`, `websocket`).
    func streams(_ door: String) -> CoreMetrics.Meter {
        CoreMetrics.Meter(label: "osprey_open_streams", dimensions: [("door", door)], factory: factory)
    }

    /// Latency buckets for a histogram fed from milliseconds in the ledger.
    static let seconds: [Double] = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
}

/// Counts what the ledger says happened, reading the events appended since the last scrape (paged, so a long quiet
/// spell costs one pass over what it missed, never more memory). Counters start at the gateway's start, as
/// Prometheus expects of a process.
actor LedgerMetrics {
    private let store: Store
    private let registry: PrometheusCollectorRegistry
    private var cursor: Int
    private var reported: (groups: Int, transactions: Int) = (0, 0)

    init(store: Store, registry: PrometheusCollectorRegistry, after cursor: Int) {
        self.store = store
        self.registry = registry
        self.cursor = cursor
    }

    /// Reads the events appended since the last call and counts them.
    func catchUp() async throws {
        while true {
            let page = try await store.ledger.events(after: cursor, limit: 1000)
            for event in page { try await observe(event) }
            guard let last = page.last else { break }
            cursor = last.seq
            if page.count < 1000 { break }
        }
        // The store's commit counters, carried into Prometheus counters by their growth since the last scrape.
        let now = store.commitStatistics
        registry.makeCounter(
            name: "osprey_store_commits_total",
            labels: [],
            help: "Write transactions committed to the database, in groups of one fsync."
        ).increment(by: Int64(now.groups - reported.groups))
        registry.makeCounter(
            name: "osprey_store_transactions_total",
            labels: [],
            help: "Write transactions committed (several may share one commit)."
        ).increment(by: Int64(now.transactions - reported.transactions))
        reported = (now.groups, now.transactions)
    }

    private func observe(_ event: Event) async throws {
        registry.makeCounter(
            name: "osprey_ledger_events_total",
            labels: [("type", event.type.rawValue)],
            help: "Events appended to the ledger, by type (rate() gives events per second)."
        ).increment()
        let payload = event.payload
        func text(_ key: String) -> String { payload[key]?.stringValue ?? "unknown" }
        switch event.type {
        case .llmCall:
            let route = [("provider", text("provider")), ("model", text("model"))]
            registry.makeCounter(
                name: "osprey_llm_calls_total",
                labels: route + [("outcome", text("outcome"))],
                help: "Model calls (each attempt), by provider, model and outcome."
            ).increment()
            for (direction, key) in [("in", "tokens_in"), ("out", "tokens_out")] {
                registry.makeCounter(
                    name: "osprey_llm_tokens_total",
                    labels: route + [("direction", direction)],
                    help: "Tokens sent to (in) and received from (out) models."
                ).increment(by: Int64(payload[key]?.intValue ?? 0))
            }
            registry.makeCounter(
                name: "osprey_llm_cost_usd_total",
                labels: route,
                help: "Dollars spent on model calls, at the configured prices."
            ).increment(by: payload["cost_usd"]?.doubleValue ?? 0)
            if let milliseconds = payload["duration_ms"]?.intValue, text("outcome") == "ok" {
                registry.makeValueHistogram(
                    name: "osprey_llm_call_seconds",
                    labels: route,
                    buckets: Telemetry.seconds,
                    help: "Time of a successful model call, start to the last byte."
                ).record(Double(milliseconds) / 1000)
            }
            if let milliseconds = payload["first_token_ms"]?.intValue {
                registry.makeValueHistogram(
                    name: "osprey_llm_first_token_seconds",
                    labels: route,
                    buckets: Telemetry.seconds,
                    help: "Time to the first streamed token of a model call."
                ).record(Double(milliseconds) / 1000)
            }
        case .policyDecision:
            registry.makeCounter(
                name: "osprey_tool_calls_total",
                labels: [("tool", text("tool")), ("decision", text("verdict"))],
                help: "Tool calls judged by the policy, by tool and decision."
            ).increment()
            if payload["verdict"] == "deny" {
                registry.makeCounter(
                    name: "osprey_policy_denials_total",
                    labels: [("rule", text("rule"))],
                    help: "Tool calls the policy denied, by the rule that denied them."
                ).increment()
            }
        case .approvalGranted, .approvalDenied, .approvalExpired:
            registry.makeCounter(
                name: "osprey_approvals_decided_total",
                labels: [("outcome", String(event.type.rawValue.dropFirst("approval.".count)))],
                help: "Approval requests decided, by outcome."
            ).increment()
        case .taskStarted:
            guard let id = event.task, let task = try? await store.tasks.get(id), let started = task.startedAt else {
                return
            }
            registry.makeValueHistogram(
                name: "osprey_task_queue_wait_seconds",
                labels: [],
                buckets: Telemetry.seconds,
                help: "Time a task waited in the queue, from submission to its (latest) start."
            ).record(max(0, started.timeIntervalSince(task.createdAt)))
        case .taskCompleted, .taskFailed, .taskCancelled:
            registry.makeCounter(
                name: "osprey_tasks_finished_total",
                labels: [("status", String(event.type.rawValue.dropFirst("task.".count)))],
                help: "Tasks that ended, by how."
            ).increment()
        default: break
        }
    }

    /// The states read at scrape time.
    func states(sandbox: Sandbox.Rung, startedAt: Date, subscribers: Int) async throws {
        let pending = try await store.approvals.pendingCount()
        registry.makeGauge(name: "osprey_approvals_pending", labels: [], help: "Tool calls waiting for a human.")
            .set(Double(pending))
        let counts = try await store.tasks.counts()
        for status in TaskStatus.allCases {
            registry.makeGauge(
                name: "osprey_tasks",
                labels: [("status", status.rawValue)],
                help: "Tasks by status now (running: in flight; queued: waiting)."
            ).set(Double(counts[status] ?? 0))
        }
        let rung: String
        switch sandbox {
        case .bubblewrap: rung = "bubblewrap"
        case .process: rung = "process"
        case .bare: rung = "bare"
        case .unavailable: rung = "unavailable"
        }
        for name in ["bubblewrap", "process", "bare", "unavailable"] {
            registry.makeGauge(
                name: "osprey_sandbox_rung",
                labels: [("rung", name)],
                help: "The sandbox rung commands run in (1 for the one in use)."
            ).set(name == rung ? 1.0 : 0.0)
        }
        registry.makeGauge(
            name: "osprey_event_subscribers",
            labels: [],
            help: "Live subscribers to the event bus (SSE, WebSocket, MCP and A2A streams, the gateway's own watchers)."
        ).set(Double(subscribers))
        registry.makeGauge(name: "osprey_uptime_seconds", labels: [], help: "Seconds since the gateway started.")
            .set(Date().timeIntervalSince(startedAt).rounded(.down))
    }
}
