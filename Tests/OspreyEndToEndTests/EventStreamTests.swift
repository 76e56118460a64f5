import Foundation
import OspreyCore
import OspreyStore
import OspreyTesting
import Testing

/// `/api/events/stream` against a client that stops reading, on a real gateway process.
struct EventStreamTests {
    /// A stream is read from the ledger no faster than its client takes it. Before, every event since `after` was
    /// put in the stream's buffer at once: a viewer token asking for `after=0` and reading nothing held a copy of the
    /// whole ledger in the gateway's memory (five such clients on a 26 MB ledger: 40 → 213 MB).
    @Test(.timeLimit(.minutes(3)))
    func aClientThatStopsReadingHoldsNoBacklogAndLaterGetsEveryEvent() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-stream-stall")
        defer { directory.remove() }
        // A ledger of ~40 MB of frames, far more events than the frame cache keeps (512), so a stream's frames are
        // its own ("z": no secret pattern starts with it, so the redactor's scan of the filler stays cheap)
        let home = Home(root: directory.url)
        _ = try home.bootstrap()
        // Its stalled clients wait as long as a loaded machine needs (cutting them off is another test's subject)
        let config = try String(contentsOf: home.configFile, encoding: .utf8)
        #expect(config.contains("write_stall_seconds = 60"))
        try Data(config.replacingOccurrences(of: "write_stall_seconds = 60", with: "write_stall_seconds = 3600").utf8)
            .write(to: home.configFile)
        let last: Int
        do {
            let store = try Store.open(home: home)
            let filler = String(repeating: "z", count: 10_000)
            for batch in 0..<40 {
                _ = try await store.ledger.append(
                    contentsOf: (0..<100).map { n in
                        EventDraft(
                            type: Event.Kind(rawValue: "test.bulk"),
                            actor: .system,
                            payload: ["n": .int(batch * 100 + n), "filler": .string(filler)]
                        )
                    }
                )
            }
            last = try await store.ledger.lastSeq()
        }
        // (fewer malloc arenas: less memory freed by one thread and kept by its arena in the figure)
        let (gateway, log) = try await FootprintTests.startWithDebugLog(
            home: directory,
            environment: ["MALLOC_ARENA_MAX": "2"]
        )
        let port = gateway.port
        defer { gateway.kill() }
        // The figure starts once the gateway has given back its start-up pages (half a second after it serves)
        try await TestRuns.waitUntil(timeout: .seconds(20)) {
            try String(contentsOf: log, encoding: .utf8).contains("released start-up pages")
        }
        let token = try String(contentsOf: home.tokenFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let request =
            "GET /api/events/stream?after=0 HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer \(token)\r\n\r\n"

        // and has served a replay (the code it runs comes back into memory as it runs)
        let warm = try RawHTTPConnection(port: port)
        await warm.send(request.replacingOccurrences(of: "after=0", with: "after=\(last - 600)"))
        #expect(await warm.read(until: "id: \(last)\n", timeout: 60).contains("id: \(last)\n"))
        let before = try Self.residentKilobytes(gateway.pid)

        // Two clients ask for everything and read nothing; a third, after them, reads it all: by then theirs have
        // had as long to fill
        let stalled = try (0..<2).map { _ in try RawHTTPConnection(port: port) }
        for connection in stalled { await connection.send(request) }
        let reader = try RawHTTPConnection(port: port)
        await reader.send(request)
        #expect(await reader.read(until: "id: \(last)\n", timeout: 60).contains("id: \(last)\n"))
        let grown = try Self.residentKilobytes(gateway.pid) - before
        // Two stalled clients' copies of the ledger took ~60 MB; now 5-8 MB (a page of 64 events each, and the
        // reader's replay), on a loaded machine too
        #expect(grown < 30_000, "the gateway grew by \(grown) kB while two clients read nothing")

        // Nothing is lost by the wait: a stalled client that reads again gets every event, in order
        let text = await stalled[0].read(until: "id: \(last)\n", timeout: 60)
        // (by bytes: a chunk's size line ends in "\r\n", one Character with the frame's first line)
        let ids = text.utf8.split(separator: UInt8(ascii: "\n")).compactMap { line -> Int? in
            line.starts(with: "id: ".utf8) ? Int(String(decoding: line.dropFirst(4), as: UTF8.self)) : nil
        }
        #expect(Array(ids.prefix(last)) == Array(1...last))
    }

    /// The process's resident anonymous memory (its heap), not the code pages it gives back and reads again.
    static func residentKilobytes(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("RssAnon:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
