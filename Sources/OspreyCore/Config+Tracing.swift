import Foundation

extension OspreyConfig {
    /// `[tracing]`: OpenTelemetry spans of runs, model calls, tool calls and policy decisions, exported over
    /// OTLP/HTTP. Off by default.
    public struct Tracing: Hashable, Sendable {
        public var enabled = false
        /// The collector's OTLP/HTTP traces endpoint.
        public var endpoint = "http://127.0.0.1:4318/v1/traces"
        /// `http/protobuf` (the OTLP default) or `http/json`.
        public var `protocol` = "http/protobuf"
        public var serviceName = "osprey"
        /// How long finished spans wait to be sent in one batch.
        public var batchMilliseconds = 5000
    }
}

extension ConfigReader {
    func tracing(_ table: [String: JSONValue]) throws -> OspreyConfig.Tracing {
        try checkKeys(
            table,
            section: "tracing",
            known: ["enabled", "endpoint", "protocol", "service_name", "batch_milliseconds"]
        )
        var tracing = OspreyConfig.Tracing()
        tracing.enabled = try bool(table, "enabled", section: "tracing") ?? false
        if let endpoint = try string(table, "endpoint", section: "tracing") {
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
                url.host?.isEmpty == false
            else { throw ConfigError("config.toml: tracing.endpoint must be an http(s) URL") }
            tracing.endpoint = endpoint
        }
        if let kind = try string(table, "protocol", section: "tracing") {
            guard ["http/protobuf", "http/json"].contains(kind) else {
                throw ConfigError("config.toml: tracing.protocol must be \"http/protobuf\" or \"http/json\"")
            }
            tracing.protocol = kind
        }
        tracing.serviceName = try string(table, "service_name", section: "tracing") ?? tracing.serviceName
        if let milliseconds = try int(table, "batch_milliseconds", section: "tracing", range: 10...60_000) {
            tracing.batchMilliseconds = milliseconds
        }
        return tracing
    }
}
