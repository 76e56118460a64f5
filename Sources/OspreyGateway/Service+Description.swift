import Logging

// ServiceLifecycle names every service of the group with "\(service)" when the group is configured. A type without a
// description of its own is then printed by reflection, field by field and recursively (the MCP door's whole
// operation table, every logger's storage), and each dynamic cast on the way scans the binary's protocol
// conformances: about a tenth of the gateway's start went there. A name is all the service group logs.

/// A service that ServiceLifecycle names by its type alone.
protocol NamedService: CustomStringConvertible {}

extension NamedService {
    // The type's name straight from the runtime: interpolating the metatype would cast it to the printing protocols.
    var description: String { _typeName(Self.self, qualified: false) }
}

extension MCPService: NamedService {}
extension MCPSocketDoor: NamedService {}
extension BackupService: NamedService {}
extension TracingService: NamedService {}
extension ResourceGuard: NamedService {}
extension NotifyService: NamedService {}

extension LoopService: CustomStringConvertible {
    var description: String { "LoopService(\(logger[metadataKey: "component"].map { "\($0)" } ?? logger.label))" }
}

// The public services' descriptions are public, as their conformances are.
extension LedgerWitness: CustomStringConvertible {
    public var description: String { "LedgerWitness" }
}

extension LocalModelService: CustomStringConvertible {
    public var description: String { "LocalModelService" }
}

extension RateLimitWatcher: CustomStringConvertible {
    public var description: String { "RateLimitWatcher" }
}
