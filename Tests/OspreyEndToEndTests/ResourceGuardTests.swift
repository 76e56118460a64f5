import Foundation
import OspreyCore
import OspreyTesting
import Testing

/// The resource guard in a real gateway, with thresholds that this machine's real readings cross.
@Suite(.serialized)
struct ResourceGuardTests {
    let osprey: OspreyExecutable
    init() throws { osprey = try OspreyExecutable.locate() }

    @Test func underPressureNewRunsAreRefusedAndLowPriorityTasksWait() async throws {
        let model = CLITests.ownMockModel()
        try await model.run { model in
            let home = try TemporaryDirectory(prefix: "osprey-resources")
            defer { home.remove() }
            try CLITests.configure(home, server: model)
            let config = home.url.appendingPathComponent("config.toml")
            try
                (String(contentsOf: config, encoding: .utf8) + "\n[resources]\nsample_seconds = 1\nmemory_percent = 1\n")
                .write(to: config, atomically: true, encoding: .utf8)
            let args = ["--home", home.path]
            let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
            defer { gateway.kill() }
            try await TestRuns.waitUntil {
                try await osprey.run(["events", "--type", "resource.pressure"] + args).stdout.contains(
                    "resource.pressure"
                )
            }
            let session = try await osprey.run(["sessions", "create"] + args).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let refused = try await osprey.run(["sessions", "send", session, "hello"] + args)
            #expect(refused.status != 0 && refused.stderr.contains("resource pressure"), "\(refused.stderr)")
            let low = try await osprey.run(["tasks", "submit", "--title", "low", "--priority", "1", "do it"] + args)
            let lowID = low.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let high = try await osprey.run(["tasks", "submit", "--title", "high", "--priority", "9", "do it"] + args)
            let highID = high.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            // The high-priority task runs (its run is the task's own, not a new client run), the low one waits
            try await TestRuns.waitUntil {
                try await osprey.run(["tasks", "show", highID] + args).stdout.contains("completed")
            }
            #expect(try await osprey.run(["tasks", "show", lowID] + args).stdout.contains("queued"))
            #expect(lowID.hasPrefix("tsk_") && highID.hasPrefix("tsk_"))
        }
    }

    @Test func pastTheHardMemoryLimitTheGatewayDrainsAndExitsForARestart() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-resources-hard")
        defer { home.remove() }
        try CLITests.configure(home, server: CLITests.ownMockModel())
        let config = home.url.appendingPathComponent("config.toml")
        try (String(contentsOf: config, encoding: .utf8) + "\n[resources]\nsample_seconds = 1\nrss_hard_mb = 1\n")
            .write(to: config, atomically: true, encoding: .utf8)
        let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
        defer { gateway.kill() }
        try await TestRuns.waitUntil { !gateway.isRunning }
        #expect(await gateway.stop() == 75)
        // (the gateway is gone: the ledger is read offline)
        let export = try await osprey.run(["audit", "export", "--home", home.path])
        let stopped = export.stdout.split(separator: "\n").filter { $0.contains("gateway.stopped") }
        #expect(stopped.count == 1 && stopped[0].contains("resource_limit"), "\(stopped)")
    }
}
