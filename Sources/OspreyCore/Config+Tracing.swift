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
        let section = try section(
            table,
            name: "tracing",
            known: ["enabled", "endpoint", "protocol", "service_name", "batch_milliseconds"]
        )
        var tracing = OspreyConfig.Tracing()
        try section.read("enabled", into: &tracing.enabled)
        if let endpoint = try section.string("endpoint") {
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
                url.host?.isEmpty == false
            else { throw ConfigError("config.toml: tracing.endpoint must be an http(s) URL") }
            tracing.endpoint = endpoint
        }
        try section.choice("protocol", ["http/protobuf", "http/json"], into: &tracing.protocol)
        try section.read("service_name", into: &tracing.serviceName)
        try section.read("batch_milliseconds", 10...60_000, into: &tracing.batchMilliseconds)
        return tracing
    }
}
