import Synchronization

/// A flag one task sets, once and for good, and others read: a call cancelled from its cancellation handler, a
/// stream whose token was revoked.
public final class Latch: Sendable {
    private let value = Atomic(false)

    public init() {}

    public func set() { value.store(true, ordering: .releasing) }

    public var isSet: Bool { value.load(ordering: .acquiring) }
}
