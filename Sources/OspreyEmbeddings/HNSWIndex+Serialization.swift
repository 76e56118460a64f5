public import Foundation
import OspreyCore

extension HNSWIndex {
    /// The first eight bytes of a serialized index.
    static let magic: [UInt8] = Array("OSPHNSW\0".utf8)
    /// The format version this code writes and reads.
    static let formatVersion: UInt32 = 1

    /// The index as compact little-endian bytes, for saving beside the memory files.
    ///
    /// Layout: magic `OSPHNSW\0`, version, dimension, m, efConstruction, efSearch, generator state, node count,
    /// entry point, top level; then per node its id (length and UTF-8), a deleted flag, its level, its vector as
    /// 32-bit floats, and per layer a link count and the linked nodes; last an FNV-1a 64 checksum of all before it.
    public func serialized() -> Data {
        var writer = BinaryWriter()
        writer.bytes.reserveCapacity(64 + ids.count * (dimension * 4 + 4 * (2 * m + 2) + 32))
        writer.bytes += Self.magic
        writer.append(Self.formatVersion)
        for value in [dimension, m, efConstruction, efSearch] { writer.append(UInt32(value)) }
        writer.append(generator.state)
        writer.append(UInt32(ids.count))
        writer.append(UInt32(bitPattern: entryPoint))
        writer.append(UInt32(bitPattern: Int32(topLevel)))
        for node in ids.indices {
            let id = Array(ids[node].utf8)
            writer.append(UInt32(id.count))
            writer.bytes += id
            writer.bytes.append(deleted[node] ? 1 : 0)
            writer.bytes.append(levels[node])
            for value in vectors[(node * dimension)..<((node + 1) * dimension)] { writer.append(value.bitPattern) }
            for level in 0...Int(levels[node]) {
                let linked = links(of: Int32(node), level: level)
                writer.append(UInt32(linked.count))
                for neighbour in linked { writer.append(UInt32(bitPattern: neighbour)) }
            }
        }
        writer.append(BinaryWriter.checksum(writer.bytes))
        return Data(writer.bytes)
    }

    /// Restores an index from ``serialized()`` bytes, checking every count, link and level so that corrupt or
    /// truncated data throws ``VectorIndexError/corruptIndex(reason:)`` instead of crashing a later search.
    public init(serialized data: Data) throws {
        let bytes = [UInt8](data)
        guard bytes.count >= Self.magic.count + 12, Array(bytes.prefix(Self.magic.count)) == Self.magic else {
            throw VectorIndexError.corruptIndex(reason: "not an HNSW index (bad magic)")
        }
        var reader = BinaryReader(bytes: bytes, position: Self.magic.count)
        let version = try reader.uint32()
        guard version == Self.formatVersion else {
            throw VectorIndexError.corruptIndex(reason: "format version \(version), expected \(Self.formatVersion)")
        }
        let body = bytes[..<(bytes.count - 8)]
        var trailer = BinaryReader(bytes: bytes, position: bytes.count - 8)
        guard try trailer.uint64() == BinaryWriter.checksum(body) else {
            throw VectorIndexError.corruptIndex(reason: "checksum mismatch")
        }
        reader.end = bytes.count - 8

        let dimension = Int(try reader.uint32())
        let m = Int(try reader.uint32())
        let efConstruction = Int(try reader.uint32())
        let efSearch = Int(try reader.uint32())
        guard (1...65_536).contains(dimension), (2...1024).contains(m), (1...1_000_000).contains(efConstruction),
            (1...1_000_000).contains(efSearch)
        else { throw VectorIndexError.corruptIndex(reason: "parameters out of range") }
        self.init(dimension: dimension, m: m, efConstruction: efConstruction, efSearch: efSearch)
        generator = SplitMix64(seed: try reader.uint64())
        let nodeCount = Int(try reader.uint32())
        // Each node takes at least its id length, flags, level, vector and one link count.
        guard nodeCount <= reader.remaining / (4 + 2 + dimension * 4 + 4) else {
            throw VectorIndexError.corruptIndex(reason: "node count \(nodeCount) exceeds the data")
        }
        entryPoint = Int32(bitPattern: try reader.uint32())
        topLevel = Int(Int32(bitPattern: try reader.uint32()))
        guard nodeCount == 0 ? entryPoint == -1 && topLevel == -1 : (0..<nodeCount).contains(Int(entryPoint)) else {
            throw VectorIndexError.corruptIndex(reason: "entry point \(entryPoint) out of range")
        }

        ids.reserveCapacity(nodeCount)
        vectors.reserveCapacity(nodeCount * dimension)
        bottomLinks.reserveCapacity(nodeCount * bottomStride)
        var linkLists: [[[Int32]]] = []
        linkLists.reserveCapacity(nodeCount)
        for node in 0..<nodeCount {
            let idLength = Int(try reader.uint32())
            guard let id = String(validating: try reader.take(idLength), as: UTF8.self) else {
                throw VectorIndexError.corruptIndex(reason: "node \(node) has an id that is not UTF-8")
            }
            let flags = try reader.byte()
            let level = Int(try reader.byte())
            guard flags <= 1, level <= Self.maximumLevel else {
                throw VectorIndexError.corruptIndex(reason: "node \(node) has invalid flags or level")
            }
            ids.append(id)
            deleted.append(flags == 1)
            levels.append(UInt8(level))
            if flags == 0 {
                guard nodes.updateValue(Int32(node), forKey: id) == nil else {
                    throw VectorIndexError.corruptIndex(reason: "id '\(id)' is live twice")
                }
            }
            for _ in 0..<dimension {
                let value = Float(bitPattern: try reader.uint32())
                guard value.isFinite else { throw VectorIndexError.corruptIndex(reason: "node \(node) has NaN") }
                vectors.append(value)
            }
            var lists: [[Int32]] = []
            for layer in 0...level {
                let linkCount = Int(try reader.uint32())
                guard linkCount <= (layer == 0 ? 2 * m : m) else {
                    throw VectorIndexError.corruptIndex(reason: "node \(node) has too many links")
                }
                var list: [Int32] = []
                for _ in 0..<linkCount { list.append(Int32(bitPattern: try reader.uint32())) }
                lists.append(list)
            }
            linkLists.append(lists)
        }
        guard reader.remaining == 0 else { throw VectorIndexError.corruptIndex(reason: "trailing bytes") }
        if nodeCount > 0 {
            guard Int(levels[Int(entryPoint)]) == topLevel, levels.allSatisfy({ Int($0) <= topLevel }) else {
                throw VectorIndexError.corruptIndex(reason: "entry point is not on the top level")
            }
        }
        // Links are checked only now, when every node's level is known: a link on layer L must point to a node
        // that exists on layer L, or searches would read past the end of its link lists.
        for (node, lists) in linkLists.enumerated() {
            bottomLinks.append(contentsOf: repeatElement(0, count: bottomStride))
            upperLinks.append(Array(repeating: 0, count: (lists.count - 1) * upperStride))
            for (layer, list) in lists.enumerated() {
                for neighbour in list
                where !(0..<nodeCount).contains(Int(neighbour)) || Int(levels[Int(neighbour)]) < layer {
                    throw VectorIndexError.corruptIndex(
                        reason: "node \(node) links to a missing node on layer \(layer)"
                    )
                }
                setLinks(of: Int32(node), level: layer, to: list)
            }
        }
    }
}

/// Appends little-endian integers to a byte array.
private struct BinaryWriter {
    var bytes: [UInt8] = []

    mutating func append(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    mutating func append(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    /// FNV-1a, 64-bit: enough to catch truncation and flipped bytes, not an integrity guarantee against tampering.
    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}

/// Reads little-endian integers from a byte array, throwing at the end instead of reading past it.
private struct BinaryReader {
    let bytes: [UInt8]
    var position: Int
    var end: Int

    init(bytes: [UInt8], position: Int) {
        self.bytes = bytes
        self.position = position
        self.end = bytes.count
    }

    var remaining: Int { end - position }

    mutating func byte() throws -> UInt8 {
        let slice = try take(1)
        return slice[slice.startIndex]
    }

    mutating func uint32() throws -> UInt32 {
        try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func uint64() throws -> UInt64 {
        try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= end - position else {
            throw VectorIndexError.corruptIndex(reason: "truncated at byte \(position)")
        }
        defer { position += count }
        return bytes[position..<(position + count)]
    }
}
