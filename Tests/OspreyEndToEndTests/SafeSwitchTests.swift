import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyTesting
import Testing

/// SafeSwitch against a real gateway process and a small real service: an HTTP server that reads its config file on
/// every request and answers 500 when the config is broken.
@Suite(.serialized)
struct SafeSwitchTests {
    let osprey: OspreyExecutable
    init() throws { osprey = try OspreyExecutable.locate() }

    static let service = """
        import http.server, sys
        path = sys.argv[2]
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                text = open(path).read()
                self.send_response(500 if "broken" in text else 200)
                self.end_headers()
                self.wfile.write(text.encode())
            def log_message(self, *args):
                pass
        http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
        """

    /// The service's answer: status and body.
    static func probe(_ port: Int) async throws -> (Int, String) {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)/"),
            timeout: .seconds(5)
        )
        let body = try await response.body.collect(upTo: 1 << 16)
        return (Int(response.status.code), String(buffer: body))
    }

    func plan(_ content: String, file: URL, port: Int, ttl: Int) -> String {
        let plan: JSONValue = [
            "reason": .string("set the config to \(content)"), "ttl_seconds": .int(ttl), "interval_seconds": 1,
            "files": [["path": .string(file.path), "content": .string(content)]],
            "checks": [["kind": "http", "url": .string("http://127.0.0.1:\(port)/"), "expect_status": 200]],
        ]
        return plan.canonicalJSON
    }

    @Test func aBreakingChangeRollsBackAGoodOneCommitsAndADeadGatewayRollsBackOnRestart() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-switch")
        defer { home.remove() }
        let service = home.url.appendingPathComponent("service")
        try FileManager.default.createDirectory(at: service, withIntermediateDirectories: true)
        let config = service.appendingPathComponent("app.conf")
        try "good".write(to: config, atomically: true, encoding: .utf8)
        let script = service.appendingPathComponent("service.py")
        try Self.service.write(to: script, atomically: true, encoding: .utf8)
        let servicePort = freeLoopbackPort()
        let server = try await PythonServer([script.path, String(servicePort), config.path], port: servicePort)
        defer { server.stop() }
        try "[host]\nswitch_paths = [\"\(service.path)\"]\n".write(
            to: home.url.appendingPathComponent("config.toml"),
            atomically: true,
            encoding: .utf8
        )
        let args = ["--home", home.path]
        let port = freeLoopbackPort()
        var gateway = try await osprey.startGateway(home: home.path, port: port)
        defer { gateway.kill() }
        let planFile = home.url.appendingPathComponent("plan.json")

        // A change that breaks the service is rolled back by its failing check, and the service answers again
        try plan("broken", file: config, port: servicePort, ttl: 30).write(
            to: planFile,
            atomically: true,
            encoding: .utf8
        )
        let broken = try await osprey.run(["switch", "begin", "--plan", planFile.path, "--json"] + args)
        #expect(broken.status == 0, "\(broken.stderr)")
        let brokenID = try #require(try JSONValue.parse(broken.stdout)["id"]?.stringValue)
        try await TestRuns.waitUntil {
            try await osprey.run(["switch", "status", brokenID] + args).stdout.contains("rolled_back")
        }
        #expect(try String(contentsOf: config, encoding: .utf8) == "good")
        #expect(try await Self.probe(servicePort) == (200, "good"))
        let shown = try JSONValue.parse(try await osprey.run(["switch", "status", brokenID, "--json"] + args).stdout)
        #expect(shown["outcome"]?["reason"] == "a health check failed")
        #expect(shown["outcome"]?["healthy_after"] == true)

        // A good change stays once committed
        try plan("v2", file: config, port: servicePort, ttl: 60).write(to: planFile, atomically: true, encoding: .utf8)
        let good = try JSONValue.parse(
            try await osprey.run(["switch", "begin", "--plan", planFile.path, "--json"] + args).stdout
        )
        let goodID = try #require(good["id"]?.stringValue)
        #expect(try await Self.probe(servicePort) == (200, "v2"))
        let committed = try await osprey.run(["switch", "commit", goodID] + args)
        #expect(committed.stdout.contains("committed"), "\(committed.stdout)\(committed.stderr)")
        #expect(try String(contentsOf: config, encoding: .utf8) == "v2")
        let again = try await osprey.run(["switch", "rollback", goodID] + args)
        #expect(again.status != 0 && again.stderr.contains("already committed"), "\(again.stderr)")

        // A window that ends without a commit rolls back
        try plan("v3", file: config, port: servicePort, ttl: 2).write(to: planFile, atomically: true, encoding: .utf8)
        let lapsed = try JSONValue.parse(
            try await osprey.run(["switch", "begin", "--plan", planFile.path, "--json"] + args).stdout
        )
        let lapsedID = try #require(lapsed["id"]?.stringValue)
        try await TestRuns.waitUntil {
            try await osprey.run(["switch", "status", lapsedID] + args).stdout.contains("window ended")
        }
        #expect(try String(contentsOf: config, encoding: .utf8) == "v2")

        // kill -9 during probation: the next start rolls the change back before anything else
        try plan("v4", file: config, port: servicePort, ttl: 600).write(to: planFile, atomically: true, encoding: .utf8)
        let pending = try JSONValue.parse(
            try await osprey.run(["switch", "begin", "--plan", planFile.path, "--json"] + args).stdout
        )
        let pendingID = try #require(pending["id"]?.stringValue)
        #expect(try String(contentsOf: config, encoding: .utf8) == "v4")
        gateway.kill()
        gateway = try await osprey.startGateway(home: home.path, port: port)
        #expect(try String(contentsOf: config, encoding: .utf8) == "v2")
        let recovered = try JSONValue.parse(
            try await osprey.run(["switch", "status", pendingID, "--json"] + args).stdout
        )
        #expect(recovered["status"] == "rolled_back")
        #expect(recovered["outcome"]?["reason"] == "the gateway restarted during probation")

        // A path outside switch_paths, or through a symbolic link, is refused before anything is touched
        let outside: JSONValue = [
            "reason": "escape", "files": [["path": "/etc/hostname", "content": "x"]],
            "checks": [["kind": "command", "argv": ["true"]]],
        ]
        try outside.canonicalJSON.write(to: planFile, atomically: true, encoding: .utf8)
        let refused = try await osprey.run(["switch", "begin", "--plan", planFile.path] + args)
        #expect(refused.status != 0 && refused.stderr.contains("outside [host] switch_paths"), "\(refused.stderr)")
        try FileManager.default.createSymbolicLink(
            atPath: service.appendingPathComponent("link").path,
            withDestinationPath: "/etc/hostname"
        )
        let linked: JSONValue = [
            "reason": "escape",
            "files": [["path": .string(service.appendingPathComponent("link").path), "content": "x"]],
            "checks": [["kind": "command", "argv": ["true"]]],
        ]
        try linked.canonicalJSON.write(to: planFile, atomically: true, encoding: .utf8)
        let viaLink = try await osprey.run(["switch", "begin", "--plan", planFile.path] + args)
        #expect(viaLink.status != 0 && viaLink.stderr.contains("symbolic link"), "\(viaLink.stderr)")
        // Every step is in the ledger, which verifies
        let events = try await osprey.run(["events", "--type", "switch.*", "--limit", "100"] + args)
        #expect(events.stdout.components(separatedBy: "switch.rolled_back").count - 1 == 3, "\(events.stdout)")
        #expect(events.stdout.contains("switch.committed"))
        #expect(try await osprey.run(["audit", "verify"] + args).status == 0)
    }
}
