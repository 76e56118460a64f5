import OspreyCore
import OspreyStore

/// What the HTTP edge decides with: the gatekeeper and the origins it allows.
extension Kernel {
    /// The access decision for HTTP routes and WebSocket upgrades, over this kernel's tokens and limits.
    func gatekeeper(routes: RouteCatalog) -> Gatekeeper {
        Gatekeeper(
            gateway: config.gateway,
            allowedOrigins: allowedOrigins,
            limiter: authLimiter,
            lockoutSeconds: config.auth.lockoutSeconds,
            authenticator: authenticator,
            ledger: store.ledger,
            routes: routes,
            streams: streamQuota,
            addresses: addressQuota
        )
    }

    /// Origins allowed to call the API (CORS) and open the WebSocket: the gateway's own loopback names, plus
    /// configured ones.
    var allowedOrigins: Set<String> {
        var origins: Set<String> = ["http://127.0.0.1:\(port)", "http://localhost:\(port)", "http://[::1]:\(port)"]
        for origin in config.gateway.allowedOrigins { origins.insert(origin.lowercased()) }
        return origins
    }
}
