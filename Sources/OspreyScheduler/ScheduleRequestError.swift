/// A schedule a client asked for that cannot be stored as it is (its spec, zone, agent, limits or checks);
/// `description` says what to change. The gateway answers it with 400.
public struct ScheduleRequestError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}
