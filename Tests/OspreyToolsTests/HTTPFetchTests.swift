import Foundation
import OspreyCore
import OspreySandbox
import OspreyTesting
import OspreyTools
import Testing

struct AddressGuardTests {
    @Test(arguments: [
        "127.0.0.1", "127.1", "2130706433", "0x7f.1", "0x7f000001", "0177.0.0.1", "0", "0.0.0.0", "[::1]", "::1", "::",
        "::ffff:127.0.0.1", "[::ffff:7f00:1]", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1", "224.0.0.1", "255.255.255.255", "fe80::1", "fc00::1", "fd00:ec2::254", "64:ff9b::7f00:1",
        "2002:7f00:1::",
        "::127.0.0.1",
    ])
    func internalAddressesAreRefusedInEveryNotation(literal: String) throws {
        let address = try #require(IPAddress(literal: literal), "\(literal) did not parse")
        #expect(AddressGuard.refusal(address) != nil, "\(literal) was allowed")
    }

    @Test(arguments: ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "172.32.0.1", "100.128.0.1"])
    func publicAddressesPass(literal: String) throws {
        let address = try #require(IPAddress(literal: literal))
        #expect(AddressGuard.refusal(address) == nil)
    }

    @Test func theCommonShortFormsAllMeanLoopback() throws {
        for literal in ["127.1", "2130706433", "0x7f.1", "0177.0.0.1"] {
            #expect(try #require(IPAddress(literal: literal)).description == "127.0.0.1")
        }
    }
}

@Suite(.serialized)
struct HTTPFetchTests {
    static func fetch(_ url: String, egress: EgressPolicy, jail: JailFixture) async throws -> ToolResult {
        try await jail.call("http_fetch", JSONValue.object(["url": .string(url)]).canonicalJSON) { $0.egress = egress }
    }

    @Test func loopbackIsRefusedWhateverTheNotationAndTheListenerHearsNothing() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let canary = ScriptedHTTPServer(responses: [], fallback: .error(200, #"{"secret":"internal"}"#))
        try await canary.run { server in
            let port = server.port
            let hosts = [
                "127.0.0.1", "127.1", "2130706433", "0x7f.1", "0177.0.0.1", "[::ffff:127.0.0.1]", "localhost", "0",
            ]
            for host in hosts {
                // Even a host the agent is allowed to name is refused when it points inside.
                let egress = EgressPolicy(allowedHosts: [host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))])
                let result = try await Self.fetch("http://\(host):\(port)/admin", egress: egress, jail: jail)
                #expect(result.isError, "\(host) was fetched")
                #expect(
                    result.output.contains("refused") || result.output.contains("cannot resolve"),
                    "\(host): \(result.output)"
                )
            }
            #expect(server.requests.isEmpty)
        }
    }

    @Test func hostsOffTheAllowlistAreRefusedBeforeAnyLookup() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let result = try await Self.fetch("https://example.com/", egress: EgressPolicy(), jail: jail)
        #expect(result.isError && result.output.contains("not on this agent's network allowlist"))
        let scheme = try await Self.fetch("file:///etc/passwd", egress: EgressPolicy(allowedHosts: [""]), jail: jail)
        #expect(scheme.isError && scheme.output.contains("only http and https"))
    }

    @Test func anAllowedFetchReturnsReadableTextAndEveryRedirectIsCheckedAgain() async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let page = ScriptedHTTPServer.Response(
            headers: ["Content-Type": "text/html"],
            chunks: [
                "<html><head><style>p{}</style><script>alert(1)</script></head><body><h1>Osprey</h1><p>Fish &amp; sky</p></body></html>"
            ]
        )
        let redirect = ScriptedHTTPServer.Response(
            status: 302,
            headers: ["Location": "http://169.254.169.254/latest/meta-data/"],
            chunks: []
        )
        let server = ScriptedHTTPServer(responses: [page, redirect])
        try await server.run { server in
            // The operator explicitly trusts this loopback service.
            let egress = EgressPolicy(
                allowedHosts: ["127.0.0.1", "169.254.169.254"],
                allowedPrivateAddresses: ["127.0.0.1"]
            )
            let fetched = try await Self.fetch("http://127.0.0.1:\(server.port)/page", egress: egress, jail: jail)
            #expect(!fetched.isError, "\(fetched.output)")
            // Fetched content is untrusted: fenced as data for the model.
            #expect(fetched.untrusted)
            #expect(
                fetched.output.hasPrefix(
                    "<untrusted-data source=\"http_fetch\">\n[HTTP 200 http://127.0.0.1:\(server.port)/page]"
                )
            )
            #expect(fetched.output.contains("Osprey\nFish & sky"))
            #expect(!fetched.output.contains("alert"))
            let redirected = try await Self.fetch("http://127.0.0.1:\(server.port)/go", egress: egress, jail: jail)
            #expect(redirected.isError)
            #expect(redirected.output.contains("link-local"))
            #expect(server.requests.count == 2)
        }
    }

    /// A server that trickles its answer (a byte before each read timeout would fire) is held to the fetch's time
    /// limit as a whole, as one that stalls after its head is: a page cannot hold a run until the run's own limit.
    @Test(.timeLimit(.minutes(1))) func anAnswerThatTricklesOrStallsEndsAtTheTimeLimit() async throws {
        let trickle = ScriptedHTTPServer.Response(chunks: Array(repeating: "x", count: 40), pause: .milliseconds(500))
        let stall = ScriptedHTTPServer.Response(chunks: ["x", "y"], pause: .seconds(3600))
        let server = ScriptedHTTPServer(responses: [trickle, stall])
        try await server.run { server in
            let egress = EgressPolicy(allowedHosts: ["127.0.0.1"], allowedPrivateAddresses: ["127.0.0.1"])
            for path in ["trickle", "stall"] {
                await #expect(throws: HTTPFetch.TimedOut(seconds: 2)) {
                    _ = try await HTTPFetch.fetch(
                        try #require(URL(string: "http://127.0.0.1:\(server.port)/\(path)")),
                        method: "GET",
                        body: nil,
                        egress: egress,
                        timeout: .seconds(2)
                    )
                }
            }
            #expect(HTTPFetch.TimedOut(seconds: 2).description == "no whole answer within 2 s")
        }
    }
}
