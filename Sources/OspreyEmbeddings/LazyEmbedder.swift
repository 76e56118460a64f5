public import Foundation
public import OspreyCore
import Synchronization

/// The built-in MiniLM, loaded on first use: the gateway starts without reading 90 MB of weights, and an idle
/// gateway that never embeds never holds them.
public final class LazyEmbedder: Embedder {
    public let directory: URL
    public var model: String { "all-MiniLM-L6-v2" }
    public var dimensions: Int { 384 }
    /// Whether the model may run its products in bfloat16 (``MiniLMEmbedder/init(directory:bfloat16:)``).
    public let bfloat16: Bool
    private let loaded = Mutex<MiniLMEmbedder?>(nil)

    public init(directory: URL, bfloat16: Bool = true) {
        self.directory = directory
        self.bfloat16 = bfloat16
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        try Task.checkCancellation()
        // Reading 90 MB of weights blocks: it happens on the embedding queue, like the embedding itself.
        let embedder = try await MiniLMEmbedder.offPool { Result { try self.load() } }.get()
        return try await embedder.embed(texts)
    }

    private func load() throws -> MiniLMEmbedder {
        try loaded.withLock { loaded in
            if let loaded { return loaded }
            let embedder = try MiniLMEmbedder(directory: directory, bfloat16: bfloat16)
            loaded = embedder
            return embedder
        }
    }
}
