public import Foundation
public import OspreyStore

/// A memory index row the store tests share: a trusted fact about ospreys, "mem_1".
public enum MemorySamples {
    public static let osprey = Memories.Entry(
        id: "mem_1",
        type: "fact",
        tags: ["birds"],
        source: "user",
        provenance: "test",
        trust: "trusted",
        importance: 0.5,
        created: Date(timeIntervalSince1970: 1_700_000_000),
        lastUsed: nil,
        title: "Ospreys",
        body: "Ospreys dive for fish in shallow water.",
        contentHash: "c1"
    )
}
