import Foundation
import GRDB
import OspreyCore
import OspreyMemory
import OspreyTesting
import Testing

/// A gateway stops promptly on SIGTERM even while it has a long backlog of background work.
@Suite(.serialized)
struct ShutdownTests {
    @Test(
        .enabled(if: TestResources.modelDirectory != nil, TestResources.modelAbsent),
        .timeLimit(.minutes(3))
    )
    func sigtermStopsAGatewayThatIsEmbeddingMemoriesWithinSeconds() async throws {
        // Given a home with 1,500 long memories that have no vectors yet
        let home = try TemporaryDirectory(prefix: "osprey-shutdown")
        defer { home.remove() }
        let memory = home.url.appendingPathComponent("memory")
        try FileManager.default.createDirectory(at: memory, withIntermediateDirectories: true)
        let words = "osprey river dawn fish talon nest wing feather sky current tide gateway ledger sandbox memory"
            .split(separator: " ")
        for index in 0..<1500 {
            let body = (0..<180).map { words[($0 * 7 + index) % words.count] }.joined(separator: " ")
            let record = try MemoryRecord(
                id: "mem_load\(index)",
                type: .fact,
                source: .user,
                trust: .trusted,
                created: Date(),
                title: "Note \(index)",
                body: body
            )
            try memory.writeFile("mem_load\(index).md", record.markdown())
        }
        let osprey = try OspreyExecutable.locate()
        let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
        defer { gateway.kill() }
        // When it is busy embedding them (some have vectors, not all) and gets SIGTERM
        let database = home.url.appendingPathComponent("osprey.db").path
        func embedded() throws -> Int {
            let queue = try DatabaseQueue(
                path: database,
                configuration: {
                    var c = Configuration()
                    c.readonly = true
                    return c
                }()
            )
            return try queue.read {
                try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM memories WHERE embedding IS NOT NULL") ?? 0
            }
        }
        for _ in 0..<600 where (try? embedded()) ?? 0 == 0 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(try embedded() > 0, "the gateway never started embedding")
        #expect(gateway.isRunning)
        let start = ContinuousClock.now
        let status = await gateway.stop()
        let took = ContinuousClock.now - start
        // Then it exits cleanly well within the 20 s that used to pass before it stopped
        #expect(status == 0)
        #expect(took < .seconds(10), "stopping took \(took)")
        #expect(try embedded() < 1500, "the backlog was finished before SIGTERM: the test proves nothing")
    }
}
