import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OspreyTesting
import Testing

/// A gateway that serves gives back the code pages its start-up touched, and goes on serving.
struct FootprintTests {
    @Test(.timeLimit(.minutes(2)))
    func aServingGatewayReleasesItsStartUpCodeAndStillAnswers() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-footprint")
        defer { home.remove() }
        let (gateway, log) = try await Self.startWithDebugLog(home: home)
        defer { gateway.kill() }

        // Its log says what the release gave back: the code of its executable and libraries, megabytes of it
        func released() throws -> (mappings: Int, kilobytes: Int)? {
            let text = try String(contentsOf: log, encoding: .utf8)
            guard let line = text.split(separator: "\n").first(where: { $0.contains("released start-up pages") })
            else { return nil }
            func value(_ key: String) -> Int? {
                line.split(separator: " ").first { $0.hasPrefix("\(key)=") }.flatMap {
                    Int($0.dropFirst(key.count + 1))
                }
            }
            return (value("mappings") ?? -1, value("kilobytes") ?? -1)
        }
        try await TestRuns.waitUntil(timeout: .seconds(20)) { try released() != nil }
        let release = try #require(try released())
        #expect(release.mappings > 0)
        #expect(release.kilobytes > 1024)

        // And the code it runs comes back as it runs: it still answers
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(gateway.port)/health"),
            timeout: .seconds(10)
        )
        #expect(response.status == .ok)
        #expect(gateway.isRunning)
    }

    /// A gateway on `home` without the local model (its server's start, a Python process loading the model, is not
    /// what these tests are about), its log at debug level in `home/gateway.log`.
    static func startWithDebugLog(
        home: TemporaryDirectory,
        environment: [String: String] = [:]
    ) async throws -> (GatewayProcess, log: URL) {
        let config = home.url.appendingPathComponent("config.toml")
        try "[local_model]\nenabled = false\n".write(to: config, atomically: true, encoding: .utf8)
        let log = home.url.appendingPathComponent("gateway.log")
        #expect(FileManager.default.createFile(atPath: log.path, contents: nil))
        let gateway = try await OspreyExecutable.locate().startGateway(
            home: home.path,
            port: freeLoopbackPort(),
            environment: environment.merging(["OSPREY_LOG_LEVEL": "debug"]) { $1 },
            log: try FileHandle(forWritingTo: log)
        )
        return (gateway, log)
    }
}
