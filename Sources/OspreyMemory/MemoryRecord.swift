public import Foundation
import OspreyStore

/// One memory: a Markdown body with the metadata that decides when and how it is recalled.
///
/// A record is stored as a Markdown file with front matter (see ``markdown()`` and ``init(markdown:)``).
/// Dates are kept to the millisecond, the precision of the file format, so that every valid record
/// survives a round trip through its file unchanged.
public struct MemoryRecord: Hashable, Sendable {
    /// The most UTF-8 bytes a body may hold (64 KiB).
    public static let maximumBodyBytes = 65_536
    /// The most tags a record may carry.
    public static let maximumTags = 32
    /// The most characters a tag, or an id, may hold.
    public static let maximumTagLength = 64

    /// A stable identifier such as `mem_3f9a0c21b7d4e865`: ASCII letters, digits, `_` and `-`, at most 64.
    public var id: String
    public var type: MemoryType
    /// Short labels for filtering, at most ``maximumTags`` of 1...``maximumTagLength`` characters each.
    public var tags: [String]
    public var source: MemorySource
    /// Free text naming exactly who or what the memory came from: a user, a tool call, a URL.
    public var provenance: String
    public var trust: MemoryTrust
    /// How much the memory matters when ranking recall results, in 0...1.
    public var importance: Double
    /// When the memory was written, to the millisecond.
    public var created: Date {
        didSet { created = RFC3339.millisecondPrecision(created) }
    }
    /// When the memory was last recalled into a conversation, to the millisecond.
    public var lastUsed: Date? {
        didSet { lastUsed = lastUsed.map(RFC3339.millisecondPrecision) }
    }
    public var title: String?
    /// The Markdown after the front matter, 1...``maximumBodyBytes`` bytes.
    public var body: String

    /// Creates a record, checking every limit a memory file enforces.
    public init(
        id: String,
        type: MemoryType,
        tags: [String] = [],
        source: MemorySource,
        provenance: String = "",
        trust: MemoryTrust,
        importance: Double = 0.5,
        created: Date,
        lastUsed: Date? = nil,
        title: String? = nil,
        body: String
    ) throws {
        self.id = id
        self.type = type
        self.tags = tags
        self.source = source
        self.provenance = provenance
        self.trust = trust
        self.importance = importance
        self.created = RFC3339.millisecondPrecision(created)
        self.lastUsed = lastUsed.map(RFC3339.millisecondPrecision)
        self.title = title
        self.body = body
        try validate()
    }

    /// Throws the first limit the record breaks; call it after changing fields, before writing the file.
    public func validate() throws {
        if let reason = Self.problem(withID: id) {
            throw MemoryRecordError.invalidValue(line: nil, key: "id", reason: reason)
        }
        if let reason = Self.problem(withTags: tags) {
            throw MemoryRecordError.invalidValue(line: nil, key: "tags", reason: reason)
        }
        if let reason = Self.problem(withImportance: importance) {
            throw MemoryRecordError.invalidValue(line: nil, key: "importance", reason: reason)
        }
        for (key, date) in [("created", created), ("last_used", lastUsed)] {
            if let date, !RFC3339.isRepresentable(date) {
                throw MemoryRecordError.invalidValue(line: nil, key: key, reason: "must lie in years 0000...9999")
            }
        }
        if let byteCount = Self.problem(withBody: body) {
            throw MemoryRecordError.invalidBody(byteCount: byteCount)
        }
    }

    /// A fresh id: `mem_` and 16 lowercase hex digits drawn from `generator`.
    public static func randomID(using generator: inout some RandomNumberGenerator) -> String {
        let hex = String(UInt64.random(in: .min ... .max, using: &generator), radix: 16)
        return "mem_" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// A fresh id: `mem_` and 16 lowercase hex digits from the system's random number generator.
    public static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        return randomID(using: &generator)
    }

    // MARK: - Limits, shared by `validate()` and the front matter parser (which adds line numbers)

    static func problem(withID id: String) -> String? {
        let allowed = id.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-")
        }
        guard allowed, (1...maximumTagLength).contains(id.utf8.count) else {
            return "must be 1...\(maximumTagLength) ASCII letters, digits, '_' or '-'"
        }
        return nil
    }

    static func problem(withTags tags: [String]) -> String? {
        if tags.count > maximumTags { return "must hold at most \(maximumTags) tags, found \(tags.count)" }
        if let tag = tags.first(where: { !(1...maximumTagLength).contains($0.count) }) {
            return "must each be 1...\(maximumTagLength) characters, found one of \(tag.count)"
        }
        return nil
    }

    static func problem(withImportance importance: Double) -> String? {
        (0...1).contains(importance) ? nil : "must be a number in 0...1"
    }

    /// The body's byte count when it is out of bounds.
    static func problem(withBody body: String) -> Int? {
        (1...maximumBodyBytes).contains(body.utf8.count) ? nil : body.utf8.count
    }
}

/// A record and its index row, both ways: what ``MemoryBank`` indexes, and what search reads back.
extension MemoryRecord {
    /// The index row for this record; `contentHash` is the hash of its file, so a reindex skips unchanged files.
    func entry(contentHash: String) -> Memories.Entry {
        Memories.Entry(
            id: id,
            type: type.rawValue,
            tags: tags,
            source: source.rawValue,
            provenance: provenance,
            trust: trust.rawValue,
            importance: importance,
            created: created,
            lastUsed: lastUsed,
            title: title,
            body: body,
            contentHash: contentHash
        )
    }

    /// The record an index row holds; nil if the row no longer makes a valid record (its file is the truth).
    init?(entry: Memories.Entry) {
        guard let type = MemoryType(rawValue: entry.type), let source = MemorySource(rawValue: entry.source),
            let trust = MemoryTrust(rawValue: entry.trust)
        else { return nil }
        try? self.init(
            id: entry.id,
            type: type,
            tags: entry.tags,
            source: source,
            provenance: entry.provenance,
            trust: trust,
            importance: entry.importance,
            created: entry.created,
            lastUsed: entry.lastUsed,
            title: entry.title,
            body: entry.body
        )
    }
}
