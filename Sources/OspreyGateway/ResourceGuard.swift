import Foundation
import HTTPTypes
import Logging
import OspreyCore
import OspreyHost
import OspreyScheduler
import OspreyStore
import ServiceLifecycle
import Synchronization

/// The gateway's resource state as every part reads it: the last samples, the verdict, since when.
final class Overload: Sendable {
    struct State {
        var verdict = ResourceVerdict(level: .normal, reasons: [])
        var since = Date()
        var history: [ResourceSample] = []
    }

    private let state = Mutex(State())
    static let historyLimit = 720

    var current: State { state.withLock { $0 } }

    /// Records a sample and its verdict; answers the previous level.
    func record(_ sample: ResourceSample, _ verdict: ResourceVerdict) -> ResourceVerdict.Level {
        state.withLock { state in
            let previous = state.verdict.level
            if previous != verdict.level { state.since = sample.at }
            state.verdict = verdict
            state.history.append(sample)
            if state.history.count > Self.historyLimit {
                state.history.removeFirst(state.history.count - Self.historyLimit)
            }
            return previous
        }
    }

    /// The refusal of a new run while under pressure: 503 with `Retry-After`.
    func refusal(retryAfter seconds: Int) -> APIError? {
        let verdict = state.withLock { $0.verdict }
        guard verdict.level != .normal else { return nil }
        return APIError(
            .serviceUnavailable,
            "overloaded",
            "The gateway is under resource pressure (\(verdict.reasons.joined(separator: "; "))); try again later.",
            headers: [.retryAfter: String(seconds)]
        )
    }
}

/// The gateway is past its hard memory limit: it drained and stops so its supervisor (systemd) restarts it; running
/// tasks resume after the restart as after any stop.
struct ResourceRestart: Error, CustomStringConvertible {
    var reasons: [String]
    var description: String { "resource limit: \(reasons.joined(separator: "; "))" }
}

/// Samples the gateway's and the host's resources every `sample_seconds` and sheds load in a fixed order as pressure
/// comes: queued tasks below `shed_priority_below` wait, new runs are refused with 503 and `Retry-After`, a
/// `resource.pressure` event alerts; past `rss_hard_mb` the service throws ``ResourceRestart``, which drains the
/// service group and ends the process with exit code 75 (a temporary failure systemd's `Restart=on-failure` restarts).
struct ResourceGuard: Service {
    let settings: OspreyConfig.Resources
    let monitor: ResourceMonitor
    let overload: Overload
    let supervisor: Supervisor
    let ledger: Ledger
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            var previous: (at: Date, ticks: Int)?
            var unrecorded: [EventDraft] = []
            while !Task.isCancelled {
                let (sample, ticks) = monitor.sample(previous: previous)
                previous = (sample.at, ticks)
                let verdict = ResourceVerdict.judge(sample, settings)
                let before = overload.record(sample, verdict)
                if verdict.level != before {
                    unrecorded.append(await changed(from: before, to: verdict, sample: sample))
                }
                unrecorded = await record(unrecorded)
                if verdict.level == .critical { throw ResourceRestart(reasons: verdict.reasons) }
                do { try await Task.sleep(for: .seconds(settings.sampleSeconds)) } catch { return }
            }
        }
    }

    /// Acts on a change of level (shedding, or no longer) and returns its event for the ledger.
    func changed(
        from before: ResourceVerdict.Level,
        to verdict: ResourceVerdict,
        sample: ResourceSample
    ) async
        -> EventDraft
    {
        if verdict.level == .normal {
            await supervisor.shed(below: nil)
            logger.info("resource pressure lifted")
            return EventDraft(type: .resourceRelieved, payload: ["sample": sample.json])
        }
        await supervisor.shed(below: settings.shedPriorityBelow)
        logger.warning(
            "resource pressure",
            metadata: ["level": "\(verdict.level.rawValue)", "reasons": "\(verdict.reasons.joined(separator: "; "))"]
        )
        return EventDraft(
            type: .resourcePressure,
            payload: [
                "level": .string(verdict.level.rawValue), "reasons": .array(verdict.reasons.map(JSONValue.string)),
                "sample": sample.json,
            ]
        )
    }

    /// Appends `drafts` in order; returns those not appended, for the next sample to try again (the disk the guard
    /// warns of may be the one that is full: the guard goes on guarding, and the gateway on serving). At most the
    /// last 16 are kept.
    func record(_ drafts: [EventDraft]) async -> [EventDraft] {
        for (index, draft) in drafts.enumerated() {
            do {
                try await ledger.append(draft)
            } catch {
                logger.error(
                    "resource event not recorded; tried again at the next sample",
                    metadata: ["event": "\(draft.type)", "error": "\(error)"]
                )
                return Array(drafts[index...].suffix(16))
            }
        }
        return []
    }
}

/// `/api/resources`: the last sample and verdict, the history, and what is being shed.
struct ResourcesController {
    let overload: Overload
    let settings: OspreyConfig.Resources
    let supervisor: Supervisor

    var operations: [Operation] { [current, history, state] }

    func add(to routes: inout RouteTable) {
        routes.bind(.get, "/api/resources", current)
        routes.bind(.get, "/api/resources/history", history, query: History.fields)
        routes.bind(.get, "/api/resources/overload", state)
    }

    var current: Operation {
        Operation("resources.get", role: .viewer) { (_: NoFields, _) in
            let now = overload.current
            return [
                "sample": now.history.last?.json ?? .null, "level": .string(now.verdict.level.rawValue),
                "reasons": .array(now.verdict.reasons.map(JSONValue.string)),
                "limits": [
                    "memory_percent": .int(settings.memoryPercent), "disk_percent": .int(settings.diskPercent),
                    "descriptors_percent": .int(settings.descriptorsPercent),
                    "load_per_core": .double(settings.loadPerCore),
                    "rss_soft_mb": .int(settings.rssSoftMB), "rss_hard_mb": .int(settings.rssHardMB),
                    "sample_seconds": .int(settings.sampleSeconds),
                ],
            ]
        }
    }

    struct History: OperationRequest {
        static let fields: Set<String> = ["limit"]
        let limit: Int
        init(_ fields: Fields) throws { limit = try fields.int("limit", default: 60, range: 1...Overload.historyLimit) }
    }

    var history: Operation {
        Operation("resources.history", role: .viewer) { (request: History, _) in
            ["samples": .array(overload.current.history.suffix(request.limit).map(\.json))]
        }
    }

    var state: Operation {
        Operation("resources.overload", role: .viewer) { (_: NoFields, _) in
            let now = overload.current
            return [
                "level": .string(now.verdict.level.rawValue),
                "reasons": .array(now.verdict.reasons.map(JSONValue.string)),
                "since": .string(WireFormat.timestamp(now.since)),
                "refusing_runs": .bool(now.verdict.level != .normal),
                "held_tasks": .int(await supervisor.shedding),
                "shed_priority_below": .int(settings.shedPriorityBelow),
            ]
        }
    }
}
