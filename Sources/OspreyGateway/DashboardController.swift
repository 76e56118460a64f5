import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OspreyCore
import OspreyStore

/// The web dashboard: `/` and `/ui/FILE`, plain HTML, CSS and JavaScript modules shipped with the binary (the
/// `Dashboard` resources, beside it in `osprey_OspreyGateway.resources/`), read once at start; and
/// `POST /api/ws/ticket`, the single-use ticket a browser opens the WebSocket with.
///
/// The files are public (they hold nothing but code); everything they show comes from the API with the signed-in
/// token, so the dashboard adds no authority. Every answer carries a strict Content-Security-Policy: scripts and
/// styles from the gateway only, no inline script, no eval, no framing, no referrer.
struct DashboardController {
    let assets: DashboardAssets
    let authenticator: Authenticator

    func add(to routes: inout RouteTable) {
        let assets = self.assets
        routes.on(.get, "/", .open) { _, _ in assets.response(for: "index.html") }
        routes.on(.get, "/ui/:file", .open) { _, context in
            assets.response(for: context.parameters.get("file") ?? "")
        }
        let authenticator = self.authenticator
        routes.on(.post, "/api/ws/ticket", .role(.viewer)) { _, context in
            guard let token = context.token else {
                throw APIError(.unauthorized, "unauthorized", "Missing bearer token.")
            }
            let ticket = authenticator.issueTicket(for: token)
            return try .json(
                ["ticket": .string(ticket), "expires_in": .int(Int(Authenticator.ticketSeconds))] as JSONValue
            )
        }
    }
}

/// The dashboard's files, loaded once.
struct DashboardAssets: Sendable {
    let files: [String: (type: String, bytes: ByteBuffer)]
    /// Where they were read from, or why there are none.
    let source: String

    static let types = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon",
    ]

    /// The headers every dashboard answer carries.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        .xContentTypeOptions: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        .cacheControl: "no-cache",
    ]

    /// The files in `directory` (flat: no subfolders), or an empty set that says where it looked.
    static func load(from directory: URL?) -> DashboardAssets {
        guard let directory, let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else {
            return DashboardAssets(files: [:], source: "no dashboard files were found beside the binary")
        }
        var files: [String: (String, ByteBuffer)] = [:]
        for name in names {
            guard let type = types[(name as NSString).pathExtension.lowercased()],
                let data = try? Data(contentsOf: directory.appendingPathComponent(name))
            else { continue }
            files[name] = (type, ByteBuffer(bytes: data))
        }
        return DashboardAssets(files: files, source: directory.path)
    }

    /// Where the files are: `OSPREY_DASHBOARD_DIR`, else the `Dashboard` resources beside the executable.
    static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        if let override = environment["OSPREY_DASHBOARD_DIR"] { return URL(fileURLWithPath: override) }
        let places = [Bundle.main.executableURL?.deletingLastPathComponent(), Bundle.main.bundleURL]
        return places.compactMap { $0?.appendingPathComponent("osprey_OspreyGateway.resources/Dashboard") }
            .first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("index.html").path) }
    }

    func response(for name: String) -> Response {
        var headers = Self.securityHeaders
        guard let file = files[name] else {
            headers[.contentType] = "text/plain; charset=utf-8"
            let message = files.isEmpty ? "The dashboard is not installed: \(source).\n" : "No such file.\n"
            return Response(status: .notFound, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message)))
        }
        headers[.contentType] = file.type
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: file.bytes))
    }
}
