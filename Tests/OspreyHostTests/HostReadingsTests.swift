import Foundation
import OspreyCore
import OspreyHost
import OspreyTesting
import OspreyTools
import Synchronization
import Testing

struct HostReadingsTests {
    @Test func procFilesParseIntoNumbers() throws {
        let memory = HostReadings.meminfo(
            "MemTotal:       16384 kB\nMemAvailable:    8192 kB\nHugePages_Total:       0\n"
        )
        #expect(
            memory["MemTotal"] == 16_777_216 && memory["MemAvailable"] == 8_388_608 && memory["HugePages_Total"] == 0
        )
        let cpu = try #require(HostReadings.cpuTimes("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n"))
        #expect(cpu.busy == 150 && cpu.total == 1000)
        // A name with spaces and parentheses ends at the last ')'.
        let stat = try #require(
            HostReadings.processStat(
                "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 555 1000 250 0"
            )
        )
        #expect(stat.pid == 42 && stat.name == "my (odd) name" && stat.state == "S" && stat.ppid == 1)
        #expect(stat.ticks == 10 && stat.startTicks == 555 && stat.rssPages == 250)
        #expect(HostReadings.processStat("garbage") == nil)
    }

    @Test func socketsRoutesResolverAndPackagesParse() {
        let tcp = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:48B6 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1
               1: 0100007F:1F90 0100007F:C000 01 00000000:00000000 00:00000000 00000000  1000        0 12346 1
            """
        let listening = HostReadings.listening(tcp)
        #expect(listening.map(\.address) == ["127.0.0.1"] && listening.map(\.port) == [18614])
        #expect(listening.map(\.inode) == [12345])
        let tcp6 = """
              sl  local_address                         remote_address                        st
               0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1
            """
        #expect(HostReadings.listening(tcp6).first?.address == "::1")
        let routes = HostReadings.routes(
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nenp1s0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\n"
        )
        #expect(routes.first?["gateway"] == "192.168.0.1" && routes.first?["interface"] == "enp1s0")
        let dns = HostReadings.resolver("# comment\nnameserver 10.0.0.2\nsearch example.org lan\n")
        #expect(dns["nameservers"] == ["10.0.0.2"] && dns["search"] == ["example.org", "lan"])
        let packages = HostReadings.packages(
            "Package: bash\nStatus: install ok installed\nVersion: 5.2\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n"
        )
        #expect(packages.map(\.name) == ["bash"] && packages.first?.version == "5.2")
    }

    @Test func theLiveReadersDescribeThisMachine() throws {
        let health = HostReadings.health(sample: .milliseconds(50))
        #expect((health["cpu"]?["cores"]?.intValue ?? 0) >= 1)
        #expect((health["memory"]?["total_bytes"]?.intValue ?? 0) > 0)
        #expect(health["disks"]?.arrayValue?.isEmpty == false)
        let processes = HostReadings.processes(sample: .milliseconds(50))
        #expect(processes.contains { $0["pid"]?.intValue == Int(ProcessInfo.processInfo.processIdentifier) })
        let network = HostReadings.network()
        #expect(network["interfaces"]?.arrayValue?.contains { $0["name"] == "lo" } == true)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(
            at: directory.url.appendingPathComponent("big/inner"),
            withIntermediateDirectories: true
        )
        try Data(count: 200_000).write(to: directory.url.appendingPathComponent("big/inner/blob"))
        try Data(count: 1000).write(to: directory.url.appendingPathComponent("small.txt"))
        let usage = HostReadings.diskUsage(under: directory.url.path, depth: 1, top: 5, limit: 1000)
        #expect(usage["largest"]?.arrayValue?.first?["path"]?.stringValue?.hasSuffix("/big") == true, "\(usage)")
        #expect(usage["complete"] == true)
    }
}

/// The system tools through the one check point: the `host` capability decides, changes need a human.
struct HostToolPolicyTests {
    func call(
        _ name: String,
        _ arguments: String,
        host: HostAccess,
        gate: ScriptedApprovals? = nil
    ) async throws
        -> (ToolResult, [EventDraft])
    {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var capabilities = Capabilities(exec: .sandboxed, approval: .autonomous)
        capabilities.host = host
        var context = ToolContext(workspace: try Workspace(root: directory.url), capabilities: capabilities)
        context.approvals = gate
        let recorded = Recorded()
        context.record = { recorded.add($0) }
        let result = try await Toolbox(HostTools.all).call(
            ToolCall(id: ToolCall.ID("call_1"), name: name, arguments: arguments),
            context: context
        )
        return (result, recorded.events)
    }

    @Test func withoutTheHostCapabilityNothingIsRead() async throws {
        let (result, events) = try await call("system_health", "{}", host: .none)
        #expect(result.isError)
        #expect(events.first?.payload["rule"] == "host")
        #expect(result.output.contains(#"host = "read""#), "\(result.output)")
    }

    @Test func readingTheHostNeedsReadAndGivesJSON() async throws {
        let (health, _) = try await call("system_health", "{}", host: .read)
        #expect(!health.isError, "\(health.output)")
        #expect((try JSONValue.parse(health.output))["memory"]?["total_bytes"]?.intValue ?? 0 > 0)
        let (top, _) = try await call("processes", #"{"action":"top","sort":"memory","limit":3}"#, host: .read)
        // Process lines can be written by anyone on the machine: untrusted output, fenced for the model
        #expect(top.untrusted)
        #expect(JSONValue.outermostObject(in: top.output)?["processes"]?.arrayValue?.count == 3, "\(top.output)")
        let (packages, _) = try await call("packages", #"{"query":"bash"}"#, host: .read)
        #expect(
            (try JSONValue.parse(packages.output))["packages"]?.arrayValue?.contains { $0["name"] == "bash" } == true
        )
        let (relative, _) = try await call("disk_usage", #"{"path":"../etc"}"#, host: .read)
        #expect(relative.isError)
    }

    @Test func changingTheHostNeedsOperateAndAHuman() async throws {
        let (refused, events) = try await call("processes", #"{"action":"kill","pid":999999}"#, host: .read)
        #expect(refused.isError && events.first?.payload["rule"] == "host")
        let gate = ScriptedApprovals(.deny)
        let (denied, _) = try await call("processes", #"{"action":"kill","pid":999999}"#, host: .operate, gate: gate)
        #expect(denied.isError)
        #expect(gate.requests.count == 1 && gate.requests.first?.rule == "dangerous")
        let granted = ScriptedApprovals(.grant)
        let (killed, _) = try await call("processes", #"{"action":"kill","pid":999999}"#, host: .operate, gate: granted)
        #expect(killed.isError && killed.output.contains("No such process"), "\(killed.output)")
        let (itself, _) = try await call(
            "processes",
            #"{"action":"kill","pid":\#(ProcessInfo.processInfo.processIdentifier)}"#,
            host: .operate,
            gate: granted
        )
        #expect(itself.isError && itself.output.contains("does not kill itself"))
    }
}

/// Collects the events a context records.
final class Recorded: Sendable {
    private let box = Mutex<[EventDraft]>([])
    func add(_ event: EventDraft) { box.withLock { $0.append(event) } }
    var events: [EventDraft] { box.withLock { $0 } }
}

struct BackupRetentionTests {
    @Test func retentionKeepsTheNewestOfEachRecentDayAndWeek() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Two backups a day for 20 days, the newest first in time order.
        let start = Date(timeIntervalSince1970: 20_601 * 86_400)  // a UTC midnight
        var names: [String] = []
        for day in 0..<20 {
            for hour in [1, 13] {
                let date = start.addingTimeInterval(Double(day * 86_400 + hour * 3600))
                let name = "osprey-backup-\(String(format: "%03d-%02d", day, hour))"
                names.append(name)
                let folder = directory.url.appendingPathComponent(name)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                let manifest = BackupManifest(
                    createdAt: WireFormat.timestamp(date),
                    files: [],
                    ledger: .init(count: 0, head: ""),
                    sessions: 0,
                    memories: 0
                )
                try JSONEncoder().encode(manifest).write(to: folder.appendingPathComponent("manifest.json"))
            }
        }
        let deleted = Backups.prune(in: directory.url, keepDaily: 2, keepWeekly: 3)
        let kept = Backups.list(in: directory.url).map(\.0.lastPathComponent)
        // Day 0 is a Thursday: days 18-19 are this ISO week, 11-17 the one before, 4-10 the one before that. Kept:
        // the newest of the last two days, and the newest of each of the last three weeks.
        #expect(
            kept == ["osprey-backup-010-13", "osprey-backup-017-13", "osprey-backup-018-13", "osprey-backup-019-13"],
            "\(kept)"
        )
        #expect(deleted.count + kept.count == names.count)
    }
}

struct ResourceVerdictTests {
    static let calm = ResourceSample(
        at: Date(),
        rssBytes: 50 << 20,
        cpuPercent: 1,
        descriptors: 40,
        descriptorLimit: 1024,
        hostMemoryPercent: 40,
        load1: 0.5,
        cores: 2,
        diskPercent: 50
    )

    @Test func eachThresholdIsItsOwnReasonAndTheHardLimitIsCritical() {
        var limits = OspreyConfig.Resources()
        limits.loadPerCore = 4
        #expect(ResourceVerdict.judge(Self.calm, limits) == ResourceVerdict(level: .normal, reasons: []))
        var sample = Self.calm
        sample.hostMemoryPercent = 95
        sample.diskPercent = 99
        sample.descriptors = 1000
        sample.load1 = 20
        let pressed = ResourceVerdict.judge(sample, limits)
        #expect(pressed.level == .pressure)
        #expect(pressed.reasons.count == 4, "\(pressed.reasons)")
        limits.rssSoftMB = 40
        limits.rssHardMB = 45
        let critical = ResourceVerdict.judge(Self.calm, limits)
        #expect(critical.level == .critical)
        #expect(critical.reasons.first?.contains("rss_hard_mb 45") == true)
        limits.rssHardMB = 0
        #expect(ResourceVerdict.judge(Self.calm, limits).level == .pressure)
    }

    @Test func theLiveMonitorReadsThisProcess() {
        let monitor = ResourceMonitor(home: NSTemporaryDirectory())
        let (first, ticks) = monitor.sample(previous: nil)
        let (second, _) = monitor.sample(previous: (first.at, ticks))
        #expect(second.rssBytes > 0 && second.descriptors > 0 && second.descriptorLimit >= second.descriptors)
        #expect(second.hostMemoryPercent > 0 && second.diskPercent > 0 && second.cores >= 1)
    }
}
