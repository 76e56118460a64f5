public import OspreyCore
import Synchronization

/// Frames gathered by a WebSocket handler, read after it returns.
public final class Collected: Sendable {
    public init() {}
    private let storage = Mutex<[JSONValue]>([])
    /// Keeps a frame.
    public func append(_ frame: JSONValue) { storage.withLock { $0.append(frame) } }
    /// The frames kept so far, in order.
    public var frames: [JSONValue] { storage.withLock { $0 } }
}
