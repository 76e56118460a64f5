import Foundation
import NIOCore
import OspreyCore
import OspreyTesting
import OspreyTools
import Synchronization
import Testing

@testable import OspreySandbox

/// The egress proxy: the only way out of a sandboxed command's network namespace, judged per connection.
@Suite(.serialized)
struct EgressProxyTests {
    /// Runs `command` under bubblewrap with network granted through `proxy` for an agent allowed `localhost`
    /// (and its loopback addresses); returns the tool result and the events the command's run recorded.
    static func run(
        _ command: String,
        jail: JailFixture,
        proxy: EgressProxy?,
        hosts: [String] = ["localhost"]
    ) async throws -> (result: ToolResult, events: [EventDraft]) {
        let recorded = Mutex<[EventDraft]>([])
        var sandbox = try SandboxTests.bubblewrap()
        sandbox.egressProxy = proxy
        let result = try await jail.call("run_command", JSONValue.object(["command": .string(command)]).canonicalJSON) {
            $0.sandbox = sandbox
            // A guard against a hang, not a speed check: under a full suite's load five curls took over 20 s once.
            $0.commandTimeout = .seconds(60)
            $0.capabilities.commandNetwork = true
            $0.egress = EgressPolicy(allowedHosts: hosts, allowedPrivateAddresses: ["127.0.0.1", "::1"])
            $0.record = { draft in recorded.withLock { $0.append(draft) } }
        }
        return (result, recorded.withLock { $0 }.filter { $0.type == .egressConnection })
    }

    static func proxy(_ directory: TemporaryDirectory) -> EgressProxy {
        EgressProxy(directory: directory.url.appendingPathComponent("run").path)
    }

    @Test func curlInTheSandboxReachesAnAllowedHostThroughTheProxyAndNothingElse() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let server = ScriptedHTTPServer(responses: [], fallback: .init(status: 200, chunks: ["hello from the host\n"]))
        try await server.run { server in
            let port = server.port
            let (result, events) = try await Self.run(
                [
                    // Forwarded (absolute-form) and tunnelled (CONNECT) to the allowed host.
                    "curl -sS http://localhost:\(port)/forwarded",
                    "curl -sS --proxytunnel http://localhost:\(port)/tunnelled",
                    // A host off the allowlist, and a raw IP (the same server's), are refused by the proxy.
                    "curl -sS -o /dev/null -w 'other %{http_code}\\n' http://blocked.example:\(port)/",
                    "curl -sS -o /dev/null -w 'raw %{http_code}\\n' http://127.0.0.1:\(port)/raw",
                    // Around the proxy there is no route at all.
                    "curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:\(port)/direct; echo direct exit $?",
                ].joined(separator: "; "),
                jail: jail,
                proxy: Self.proxy(jail.directory)
            )
            #expect(!result.isError, "\(result.output)")
            #expect(result.output.components(separatedBy: "hello from the host").count == 3, "\(result.output)")
            #expect(result.output.contains("other 403"), "\(result.output)")
            #expect(result.output.contains("raw 403"), "\(result.output)")
            #expect(result.output.contains("direct exit 7"), "\(result.output)")
            #expect(result.output.contains("[egress refused blocked.example:\(port): 'blocked.example' is not on"))
            // The server saw the two allowed requests only, in origin form.
            #expect(server.requests.map(\.path) == ["/forwarded", "/tunnelled"])
            // Every judged connection is in the ledger: two allowed, pinned to loopback, and two refused.
            #expect(events.count == 4)
            let allowed = events.filter { $0.payload["allowed"]?.boolValue == true }
            #expect(allowed.map { $0.payload["method"]?.stringValue } == ["GET", "CONNECT"])
            #expect(allowed.allSatisfy { $0.payload["address"]?.stringValue == "127.0.0.1" })
            let refused = events.filter { $0.payload["allowed"]?.boolValue == false }
            #expect(refused.compactMap { $0.payload["host"]?.stringValue } == ["blocked.example", "127.0.0.1"])
        }
        // Each command's socket is gone once it has ended.
        let sockets = try FileManager.default.contentsOfDirectory(
            atPath: jail.directory.url.appendingPathComponent("run").path
        )
        #expect(sockets.isEmpty)
    }

    @Test func anAllowedNameThatResolvesToAPrivateAddressIsRefused() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let recorded = Mutex<[EventDraft]>([])
        var sandbox = try SandboxTests.bubblewrap()
        sandbox.egressProxy = Self.proxy(jail.directory)
        // `localhost` is on the allowlist, but no private address is: the SSRF guard refuses it.
        let result = try await jail.call(
            "run_command",
            JSONValue.object(["command": .string("curl -sS -w ' %{http_code}' http://localhost:9/")]).canonicalJSON
        ) {
            $0.sandbox = sandbox
            $0.capabilities.commandNetwork = true
            $0.egress = EgressPolicy(allowedHosts: ["localhost"])
            $0.record = { draft in recorded.withLock { $0.append(draft) } }
        }
        #expect(result.output.contains("loopback address 127.0.0.1"), "\(result.output)")
        #expect(result.output.contains(" 403"), "\(result.output)")
    }

    @Test func withoutAProxyOrOnTheProcessRungNetworkIsRefusedNotGivenBare() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let (missing, _) = try await Self.run("echo ran", jail: jail, proxy: nil)
        #expect(missing.isError)
        #expect(missing.output.contains("egress proxy, which is not running"), "\(missing.output)")
        #expect(!missing.output.contains("ran\n"))
        var sandbox = try SandboxTests.bubblewrap().withoutNamespaces
        sandbox.egressProxy = Self.proxy(jail.directory)
        let process = try await jail.call("run_command", #"{"command": "echo ran"}"#) {
            $0.sandbox = sandbox
            $0.capabilities = Capabilities(exec: .full, approval: .autonomous, commandNetwork: true)
        }
        #expect(process.isError)
        #expect(process.output.contains("the process rung has none"), "\(process.output)")
    }

    @Test func configGrantsCommandNetworkOnlyWithHostsToReach() throws {
        let config = try OspreyConfig(
            toml: "[agents.web]\nnetwork_hosts = [\"pypi.org\"]\ncommand_network = true\n[agents.plain]\n"
        )
        #expect(Capabilities(try #require(config.agents["web"])).commandNetwork)
        #expect(!Capabilities(try #require(config.agents["plain"])).commandNetwork)
        #expect(throws: ConfigError.self) {
            try OspreyConfig(toml: "[agents.web]\ncommand_network = true\n")
        }
    }

    @Test func requestHeadsAreParsedStrictly() throws {
        let tunnel = try ProxyRequest.parse(head: "CONNECT Example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        #expect(
            tunnel == ProxyRequest(method: "CONNECT", host: "example.com", port: 443, tunnel: true, forwardedHead: "")
        )
        let v6 = try ProxyRequest.parse(head: "CONNECT [::1]:8443 HTTP/1.1\r\n\r\n")
        #expect(v6.host == "::1" && v6.port == 8443)
        let forward = try ProxyRequest.parse(
            head: "GET http://example.com:8080/a%20b?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n"
                + "Proxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n"
        )
        #expect(forward.host == "example.com" && forward.port == 8080 && !forward.tunnel)
        #expect(forward.forwardedHead == "GET /a%20b?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n")
        let noHost = try ProxyRequest.parse(head: "GET http://example.com HTTP/1.0\r\n\r\n")
        #expect(noHost.forwardedHead == "GET / HTTP/1.0\r\nHost: example.com\r\n\r\n")
        for bad in [
            "GET /origin-form HTTP/1.1\r\n\r\n", "GET https://example.com/ HTTP/1.1\r\n\r\n",
            "CONNECT example.com HTTP/1.1\r\n\r\n", "CONNECT example.com:0 HTTP/1.1\r\n\r\n",
            "CONNECT :443 HTTP/1.1\r\n\r\n", "get http://example.com/ HTTP/1.1\r\n\r\n", "GET http://x/ SPDY/3\r\n\r\n",
            "\r\n\r\n",
        ] {
            #expect(throws: ProxyRefusal.self, "\(bad)") { try ProxyRequest.parse(head: bad) }
        }
        // Incomplete heads wait for more; an endless one is refused.
        var partial = ByteBuffer(string: "CONNECT example.com:443 HTTP/1.1\r\n")
        #expect(try ProxyRequest.parse(&partial, limit: 1024) == nil)
        var endless = ByteBuffer(string: "GET http://x/ HTTP/1.1\r\nX: " + String(repeating: "a", count: 2000))
        #expect(throws: ProxyRefusal(status: 431, message: "the request head is too long")) {
            try ProxyRequest.parse(&endless, limit: 1024)
        }
    }
}
