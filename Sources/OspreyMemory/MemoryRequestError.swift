/// A memory request that cannot be served as asked (empty content, an empty or oversized query, a memory file that
/// no longer parses); `description` says why. The gateway answers it with 400.
public struct MemoryRequestError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}
