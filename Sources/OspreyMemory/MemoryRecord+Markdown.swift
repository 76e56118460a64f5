import Foundation

extension MemoryRecord {
    /// The keys a memory file's front matter may hold, in the order ``markdown()`` writes them.
    enum FrontMatterKey: String, CaseIterable {
        case id
        case type
        case title
        case tags
        case source
        case provenance
        case trust
        case importance
        case created
        case lastUsed = "last_used"

        static var allNames: String { allCases.map(\.rawValue).joined(separator: ", ") }
    }

    /// Reads a memory file: front matter between `---` lines, then a blank line, then the Markdown body.
    ///
    /// The front matter is a strict subset of YAML: one `key: value` per line; strings bare or in double quotes
    /// (with `\"`, `\\`, `\n`, `\r`, `\t` and `\u{…}` escapes); lists inline as `[a, "b, c"]`; dates as RFC 3339
    /// in UTC (`2026-05-01T09:30:00Z`, optionally with fractional seconds). Blank lines are skipped; unknown or
    /// repeated keys are errors that name the line. `id`, `type` and `created` are required; the rest default to
    /// no title, no tags, source `agent`, empty provenance, trust `untrusted` and importance 0.5.
    public init(markdown text: String) throws {
        var reader = LineReader(text)
        guard reader.nextLine() == "---" else { throw MemoryRecordError.missingFrontMatter }
        var values: [FrontMatterKey: FrontMatterValue] = [:]
        while true {
            guard let line = reader.nextLine() else { throw MemoryRecordError.unterminatedFrontMatter }
            if line == "---" { break }
            let scalars = Array(line.unicodeScalars)
            if scalars.allSatisfy(\.isInlineSpace) { continue }
            guard let colon = scalars.firstIndex(of: ":"), colon > 0 else {
                throw MemoryRecordError.malformedLine(line: reader.lineNumber, text: line)
            }
            let name = String(String.UnicodeScalarView(scalars[..<colon]))
            guard let key = FrontMatterKey(rawValue: name) else {
                if !name.unicodeScalars.contains(where: \.isInlineSpace) {
                    throw MemoryRecordError.unknownKey(line: reader.lineNumber, key: name)
                }
                throw MemoryRecordError.malformedLine(line: reader.lineNumber, text: line)
            }
            guard values[key] == nil else {
                throw MemoryRecordError.duplicateKey(line: reader.lineNumber, key: name)
            }
            values[key] = FrontMatterValue(
                scalars: Array(scalars[(colon + 1)...]).trimmingInlineSpace(),
                line: reader.lineNumber,
                key: name
            )
        }
        func required(_ key: FrontMatterKey) throws -> FrontMatterValue {
            guard let value = values[key] else { throw MemoryRecordError.missingKey(key.rawValue) }
            return value
        }
        let idValue = try required(.id)
        let id = try idValue.string()
        if let reason = Self.problem(withID: id) { throw idValue.invalid(reason) }
        let tags = try values[.tags]?.list() ?? []
        if let reason = Self.problem(withTags: tags), let tagsValue = values[.tags] { throw tagsValue.invalid(reason) }
        let importance = try values[.importance]?.number() ?? 0.5
        if let reason = Self.problem(withImportance: importance), let value = values[.importance] {
            throw value.invalid(reason)
        }
        let body = reader.remainder()
        if let byteCount = Self.problem(withBody: body) { throw MemoryRecordError.invalidBody(byteCount: byteCount) }
        try self.init(
            id: id,
            type: try required(.type).oneOf(MemoryType.self),
            tags: tags,
            source: try values[.source]?.oneOf(MemorySource.self) ?? .agent,
            provenance: try values[.provenance]?.string() ?? "",
            trust: try values[.trust]?.oneOf(MemoryTrust.self) ?? .untrusted,
            importance: importance,
            created: try required(.created).date(),
            lastUsed: try values[.lastUsed]?.date(),
            title: try values[.title]?.string(),
            body: body
        )
    }

    /// The record as a memory file in canonical form, which ``init(markdown:)`` reads back to an equal record.
    ///
    /// Keys come in a fixed order; strings are quoted only when they must be (empty, padded, control characters,
    /// a leading quote, or list punctuation inside a tag); a blank line separates the front matter from the body.
    public func markdown() -> String {
        var lines = ["---", "id: \(id)", "type: \(type.rawValue)"]
        if let title { lines.append("title: " + Self.written(title, inList: false)) }
        lines.append("tags: [" + tags.map { Self.written($0, inList: true) }.joined(separator: ", ") + "]")
        lines.append("source: \(source.rawValue)")
        lines.append("provenance: " + Self.written(provenance, inList: false))
        lines.append("trust: \(trust.rawValue)")
        lines.append("importance: \(importance)")
        lines.append("created: " + RFC3339.format(created))
        if let lastUsed { lines.append("last_used: " + RFC3339.format(lastUsed)) }
        lines.append("---")
        return lines.joined(separator: "\n") + "\n\n" + body
    }

    /// The string as a front matter value: bare when it reads back unchanged, otherwise quoted and escaped.
    private static func written(_ text: String, inList: Bool) -> String {
        let scalars = text.unicodeScalars
        let listPunctuation: Set<Unicode.Scalar> = [",", "[", "]", "\""]
        let bare =
            !scalars.isEmpty && scalars.first != "\"" && scalars.first?.isInlineSpace == false
            && scalars.last?.isInlineSpace == false && !scalars.contains(where: \.needsEscape)
            && !(inList && scalars.contains(where: listPunctuation.contains))
        guard !bare else { return text }
        var quoted = "\""
        for scalar in scalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\r": quoted += "\\r"
            case "\t": quoted += "\\t"
            case _ where scalar.needsEscape: quoted += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }
}

/// Splits text into `\n`-terminated lines (dropping a trailing `\r`) and hands back the rest untouched.
///
/// Works on Unicode scalars rather than characters, because `"\r\n"` is a single `Character`.
private struct LineReader {
    private let scalars: [Unicode.Scalar]
    private var position = 0
    private(set) var lineNumber = 0

    init(_ text: String) { scalars = Array(text.unicodeScalars) }

    mutating func nextLine() -> String? {
        guard position < scalars.count else { return nil }
        let end = scalars[position...].firstIndex(of: "\n") ?? scalars.count
        var line = scalars[position..<end]
        if line.last == "\r" { line = line.dropLast() }
        position = min(end + 1, scalars.count)
        lineNumber += 1
        return String(String.UnicodeScalarView(line))
    }

    /// The text after the last line read, without the one blank line that separates it from the front matter.
    func remainder() -> String {
        var rest = scalars[position...]
        if rest.first == "\n" {
            rest = rest.dropFirst()
        } else if rest.starts(with: ["\r", "\n"]) {
            rest = rest.dropFirst(2)
        }
        return String(String.UnicodeScalarView(rest))
    }
}

/// The text after `key:` on one front matter line, read as the type its key calls for.
private struct FrontMatterValue {
    let scalars: [Unicode.Scalar]
    let line: Int
    let key: String

    func invalid(_ reason: String) -> MemoryRecordError {
        .invalidValue(line: line, key: key, reason: reason)
    }

    /// A bare string (the rest of the line) or a quoted one.
    func string() throws -> String {
        guard let first = scalars.first else { throw invalid("has no value; write \"\" for an empty string") }
        guard first == "\"" else { return String(String.UnicodeScalarView(scalars)) }
        let (text, end) = try quoted(from: 0)
        guard end == scalars.count else { throw invalid("has text after the closing quote") }
        return text
    }

    /// An inline list such as `[a, "b, c"]`.
    func list() throws -> [String] {
        guard scalars.first == "[" else { throw invalid("must be a list such as [a, b]") }
        var items: [String] = []
        var index = skippingSpace(from: 1)
        if index < scalars.count, scalars[index] == "]" {
            index += 1
        } else {
            while true {
                index = skippingSpace(from: index)
                if index < scalars.count, scalars[index] == "\"" {
                    let (item, end) = try quoted(from: index)
                    items.append(item)
                    index = end
                } else {
                    let start = index
                    while index < scalars.count, scalars[index] != ",", scalars[index] != "]" {
                        guard scalars[index] != "\"", scalars[index] != "[" else {
                            throw invalid("has a list item with a stray '\(scalars[index])'; quote the item")
                        }
                        index += 1
                    }
                    let item = Array(scalars[start..<index]).trimmingInlineSpace()
                    guard !item.isEmpty else { throw invalid("has an empty list item") }
                    items.append(String(String.UnicodeScalarView(item)))
                }
                index = skippingSpace(from: index)
                guard index < scalars.count else { throw invalid("has an unterminated list; close it with ']'") }
                index += 1
                if scalars[index - 1] == "]" { break }
                guard scalars[index - 1] == "," else { throw invalid("needs ',' or ']' after a list item") }
            }
        }
        guard skippingSpace(from: index) == scalars.count else { throw invalid("has text after the closing ']'") }
        return items
    }

    /// A plain decimal number such as `0.75` or `1e-05` (no `nan`, `inf` or hex).
    func number() throws -> Double {
        let text = String(String.UnicodeScalarView(scalars))
        let allowed = scalars.allSatisfy { ("0"..."9").contains($0) || ".eE+-".unicodeScalars.contains($0) }
        guard allowed, let value = Double(text), value.isFinite else { throw invalid("must be a number in 0...1") }
        return value
    }

    /// An RFC 3339 timestamp in UTC.
    func date() throws -> Date {
        guard let date = RFC3339.parse(String(String.UnicodeScalarView(scalars))) else {
            throw invalid("must be an RFC 3339 date in UTC, such as 2026-05-01T09:30:00Z")
        }
        return date
    }

    /// One of an enumeration's raw values.
    func oneOf<Value: RawRepresentable & CaseIterable>(_: Value.Type) throws -> Value where Value.RawValue == String {
        guard let value = Value(rawValue: String(String.UnicodeScalarView(scalars))) else {
            throw invalid("must be one of " + Value.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }

    /// The string in double quotes starting at `start`, and the index after its closing quote.
    private func quoted(from start: Int) throws -> (String, Int) {
        var text = String.UnicodeScalarView()
        var index = start + 1
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            switch scalar {
            case "\"":
                return (String(text), index)
            case "\\":
                guard index < scalars.count else { break }
                let escape = scalars[index]
                index += 1
                switch escape {
                case "\"", "\\": text.append(escape)
                case "n": text.append("\n")
                case "r": text.append("\r")
                case "t": text.append("\t")
                case "u":
                    guard index < scalars.count, scalars[index] == "{",
                        let close = scalars[index...].firstIndex(of: "}"),
                        (1...6).contains(close - index - 1),
                        let value = UInt32(String(String.UnicodeScalarView(scalars[(index + 1)..<close])), radix: 16),
                        let decoded = Unicode.Scalar(value)
                    else { throw invalid("has an invalid \\u{…} escape") }
                    text.append(decoded)
                    index = close + 1
                default:
                    throw invalid("has an unknown escape '\\\(escape)'; use \\\", \\\\, \\n, \\r, \\t or \\u{…}")
                }
            default:
                text.append(scalar)
            }
        }
        throw invalid("has an unterminated quoted string")
    }

    private func skippingSpace(from start: Int) -> Int {
        var index = start
        while index < scalars.count, scalars[index].isInlineSpace { index += 1 }
        return index
    }
}

extension Unicode.Scalar {
    /// A space or a tab: the only whitespace the front matter trims.
    fileprivate var isInlineSpace: Bool { self == " " || self == "\t" }

    /// A control character or line separator, which a front matter value can only hold escaped.
    fileprivate var needsEscape: Bool {
        properties.generalCategory == .control || self == "\u{2028}" || self == "\u{2029}"
    }
}

extension Array where Element == Unicode.Scalar {
    fileprivate func trimmingInlineSpace() -> [Unicode.Scalar] {
        guard let first = firstIndex(where: { !$0.isInlineSpace }), let last = lastIndex(where: { !$0.isInlineSpace })
        else { return [] }
        return Array(self[first...last])
    }
}
