public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
public import OspreyCore
public import OspreySandbox

/// Where an agent may connect; the type lives beside the SSRF guard, which the egress proxy shares.
public typealias EgressPolicy = OspreySandbox.EgressPolicy

/// `http_fetch`: GET or POST a URL on the agent's egress allowlist, with the SSRF guard on every hop.
///
/// The host is resolved once, every address it resolves to is checked, and the connection is pinned to the
/// checked address (so a second DNS answer cannot point it elsewhere); redirects are followed by hand and each
/// new host is checked again. Bodies are capped in size and time; HTML comes back as readable text.
public struct HTTPFetch: Tool {
    public struct Arguments: Decodable {
        var url: String
        var method: String?
        var body: String?
    }

    public init() {}

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "http_fetch",
            description: "Fetch a web page or API (GET, or POST with a body). HTML is returned as text.",
            properties: [
                "url": .argument("string"), "method": .argument("string", oneOf: ["GET", "POST"]),
                "body": .argument("string"),
            ],
            required: ["url"]
        )
    }

    static let maxBytes = 1 << 20
    static let maxRedirects = 5

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        ToolAssessment(risk: .network, untrustedOutput: true)
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let method = (arguments.method ?? "GET").uppercased()
        guard method == "GET" || method == "POST" else {
            throw ToolArgumentError(description: "method must be GET or POST")
        }
        // A secret never leaves in a request, however the model came to hold it.
        let requested = context.redactor.redactOutgoing(arguments.url, urlSafe: true)
        let body = arguments.body.map { context.redactor.redactOutgoing($0) }
        guard let url = URL(string: requested) else {
            throw ToolArgumentError(description: "'\(arguments.url)' is not a URL")
        }
        let page = try await Self.fetch(url, method: method, body: body, egress: context.egress)
        var text = page.body
        if page.contentType?.contains("html") == true { text = Self.readable(html: text) }
        return "[HTTP \(page.status) \(page.url.absoluteString)]\n" + text
    }

    /// A fetch whose whole answer did not come within its time limit.
    public struct TimedOut: Error, Hashable, CustomStringConvertible {
        public var seconds: Int
        public init(seconds: Int) { self.seconds = seconds }
        public var description: String { "no whole answer within \(seconds) s" }
    }

    /// What a fetch brought back: the status, the URL it ended at (after redirects), its type and body.
    public struct Page: Sendable {
        public var status: Int
        public var url: URL
        public var contentType: String?
        public var body: String
    }

    /// GETs or POSTs `url` through the SSRF guard, with `egress` deciding every hop: redirects are followed by
    /// hand (at most five), each new host checked again; the body is capped at 1 MiB and the whole at `timeout`.
    /// `headers` go with the first request only (a redirect to another host does not carry them).
    public static func fetch(
        _ url: URL,
        method: String,
        body: String?,
        headers: [(String, String)] = [],
        egress: EgressPolicy,
        timeout: Duration = .seconds(30)
    ) async throws -> Page {
        var url = url
        var sending = headers
        for _ in 0...maxRedirects {
            let target = try check(url, egress: egress)
            var configuration = HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(10), read: .init(timeout))
            )
            // Connect to the address that was checked, whatever DNS says next; TLS still verifies the host name.
            configuration.dnsOverride = [target.host: target.address.description]
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            var request = HTTPClientRequest(url: url.absoluteString)
            request.method = method == "POST" ? .POST : .GET
            for (name, value) in sending { request.headers.add(name: name, value: value) }
            if let body, method == "POST" { request.body = .bytes(ByteBuffer(string: body)) }
            let outcome: Result<(Int, HTTPHeaders, ByteBuffer), any Error>
            do {
                // The whole answer within the limit: the client's deadline ends at the head and its read timeout
                // is per read, so a server trickling a byte at a time would otherwise hold the call for ever.
                let fetched = try await withTimeLimit(timeout) { [request] in
                    let response = try await client.execute(request, timeout: .init(timeout))
                    let body = try await response.body.collect(upTo: maxBytes + 1)
                    return (Int(response.status.code), response.headers, body)
                }
                outcome = fetched.map { .success($0) } ?? .failure(TimedOut(seconds: Int(timeout.timeInterval)))
            } catch let error as HTTPClientError where error == .readTimeout || error == .deadlineExceeded {
                // The client's own limits, met first on a loaded machine: the same answer as the whole limit's.
                outcome = .failure(TimedOut(seconds: Int(timeout.timeInterval)))
            } catch let error as NIOTooManyBytesError {
                outcome = .failure(ToolArgumentError(description: "the response is larger than 1 MiB: \(error)"))
            } catch {
                outcome = .failure(error)
            }
            try? await client.shutdown()
            let (status, headers, fetched) = try outcome.get()
            if (300..<400).contains(status), let location = headers.first(name: "location") {
                guard let next = URL(string: location, relativeTo: url)?.absoluteURL else {
                    throw ToolArgumentError(description: "redirect to an invalid location '\(location)'")
                }
                url = next
                sending = []
                continue
            }
            return Page(
                status: status,
                url: url,
                contentType: headers.first(name: "content-type"),
                body: String(buffer: fetched)
            )
        }
        throw ToolArgumentError(description: "more than \(maxRedirects) redirects")
    }

    /// The host and the one address a request may go to, or why not.
    public static func check(_ url: URL, egress: EgressPolicy) throws -> (host: String, address: IPAddress) {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw ToolArgumentError(description: "only http and https URLs can be fetched")
        }
        guard let host = url.host, !host.isEmpty else { throw ToolArgumentError(description: "the URL has no host") }
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        do {
            return (bare, try egress.address(for: bare))
        } catch let error as SandboxError {
            throw ToolArgumentError(description: error.reason)
        }
    }

    /// HTML as readable text: scripts and styles dropped, tags to breaks, entities decoded, blank runs collapsed.
    static func readable(html: String) -> String {
        var text = html
        for pattern in [#"(?is)<(script|style|noscript)[^>]*>.*?</\1>"#, #"(?s)<!--.*?-->"#] {
            text = text.replacingOccurrences(of: pattern, with: " ", options: .regularExpression)
        }
        text = text.replacingOccurrences(
            of: #"(?i)<(br|/p|/div|/h[1-6]|/li|/tr)[^>]*>"#,
            with: "\n",
            options: .regularExpression
        )
        text = text.replacingOccurrences(of: #"<[^>]+>"#, with: " ", options: .regularExpression)
        for (entity, character) in [
            ("&nbsp;", " "), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"), ("&amp;", "&"),
        ] {
            text = text.replacingOccurrences(of: entity, with: character)
        }
        text = text.replacingOccurrences(of: #"[ \t]+"#, with: " ", options: .regularExpression)
        text = text.replacingOccurrences(of: #"\s*\n\s*"#, with: "\n", options: .regularExpression)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
