import HTTPTypes
import OspreyStore
import Synchronization

/// Who may call a route. Every route declares one beside its handler; there is no default.
enum RouteAccess: Sendable, Hashable {
    /// No token needed (`/health`, `/metrics`). The Host check still applies.
    case open
    /// A valid, unexpired token whose role is at least this one and whose scopes include the route's group.
    case role(TokenRole)
}

/// One declared route: its method, its path pattern as segments (`:name` matches any one segment), its access.
struct RouteDeclaration: Sendable, Hashable {
    let method: HTTPRequest.Method
    let segments: [String]
    let access: RouteAccess

    /// The route group a token scope names: the segment after `api` (`sessions`, `events`, `tokens`, ...).
    var group: String { Self.group(of: segments) }

    static func group(of segments: [some StringProtocol]) -> String {
        segments.count > 1 && segments[0] == "api" ? String(segments[1]) : String(segments.first ?? "")
    }

    func matches(_ path: [Substring]) -> Bool {
        guard path.count == segments.count else { return false }
        for (pattern, segment) in zip(segments, path) where !pattern.hasPrefix(":") && pattern != segment {
            return false
        }
        return true
    }
}

/// Every route the router serves, with its access, so the gatekeeper decides on the route the router will dispatch.
///
/// The router drops empty segments (`//api//tokens` dispatches like `/api/tokens`), so deciding on the raw path
/// string is unsound: the gatekeeper only ever decides on ``RequestPath/canonicalSegments(_:)``, which refuses
/// any path the router would read differently, and then on the route this catalog matches.
final class RouteCatalog: Sendable {
    private let routes = Mutex<[RouteDeclaration]>([])

    /// What a canonical path resolves to.
    enum Match: Equatable {
        case route(RouteDeclaration)
        /// The path exists with other methods (the router answers 405).
        case otherMethod
        case none
    }

    @discardableResult
    func declare(_ method: HTTPRequest.Method, _ path: String, access: RouteAccess) -> RouteDeclaration {
        let route = RouteDeclaration(
            method: method,
            segments: path.split(separator: "/").map(String.init),
            access: access
        )
        routes.withLock { $0.append(route) }
        return route
    }

    func match(method: HTTPRequest.Method, segments: [Substring]) -> Match {
        let candidates = routes.withLock { $0 }.filter { $0.matches(segments) }
        // HEAD is served by GET routes.
        let wanted = method == .head ? HTTPRequest.Method.get : method
        if let exact = candidates.first(where: { $0.method == wanted && !$0.segments.contains(where: \.isWildcard) }) {
            return .route(exact)
        }
        if let route = candidates.first(where: { $0.method == wanted }) { return .route(route) }
        return candidates.isEmpty ? .none : .otherMethod
    }

    /// The methods some route serves on a canonical path.
    func methods(for segments: [Substring]) -> Set<HTTPRequest.Method> {
        Set(routes.withLock { $0 }.filter { $0.matches(segments) }.map(\.method))
    }

    var all: [RouteDeclaration] { routes.withLock { $0 } }
}

extension String {
    fileprivate var isWildcard: Bool { hasPrefix(":") }
}

/// The one reading of a request path that authentication, authorization and the router agree on.
enum RequestPath {
    /// The path's segments, or nil when the path is not canonical: it must start with `/`, have no empty segment
    /// (`//`, a trailing `/`), no `.` or `..` segment, no backslash, control or non-ASCII byte, and no
    /// percent-encoded `/`, `\` or `.`. The router would read such a path differently from the string, so it is
    /// refused before anyone decides on it.
    static func canonicalSegments(_ path: String) -> [Substring]? {
        guard path.hasPrefix("/") else { return nil }
        if path == "/" { return [] }
        for byte in path.utf8 where byte < 0x21 || byte > 0x7E || byte == UInt8(ascii: "\\") { return nil }
        let lowered = path.lowercased()
        for encoded in ["%2f", "%5c", "%2e", "%00"] where lowered.contains(encoded) { return nil }
        let segments = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        for segment in segments where segment.isEmpty || segment == "." || segment == ".." { return nil }
        return segments
    }
}
