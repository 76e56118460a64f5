import Logging

// ServiceLifecycle names every service of the group with "\(service)" when the group is configured. A type without a
// description of its own is then printed by reflection, field by field and recursively (the MCP door's whole
// operation table, every logger's storage), and each dynamic cast on the way scans the binary's protocol
// conformances: about a tenth of the gateway's start went there. A name is all the service group logs.

extension LoopService: CustomStringConvertible {
    var description: String { "LoopService(\(logger[metadataKey: "component"].map { "\($0)" } ?? logger.label))" }
}

extension MCPService: CustomStringConvertible {
    var description: String { "MCPService" }
}

extension MCPSocketDoor: CustomStringConvertible {
    var description: String { "MCPSocketDoor" }
}

extension LedgerWitness: CustomStringConvertible {
    public var description: String { "LedgerWitness" }
}

extension BackupService: CustomStringConvertible {
    var description: String { "BackupService" }
}

extension TracingService: CustomStringConvertible {
    var description: String { "TracingService" }
}

extension LocalModelService: CustomStringConvertible {
    public var description: String { "LocalModelService" }
}

extension RateLimitWatcher: CustomStringConvertible {
    public var description: String { "RateLimitWatcher" }
}

extension ResourceGuard: CustomStringConvertible {
    var description: String { "ResourceGuard" }
}

extension NotifyService: CustomStringConvertible {
    var description: String { "NotifyService" }
}
