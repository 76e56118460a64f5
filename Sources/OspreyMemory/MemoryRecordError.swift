/// Why a memory record was rejected; `description` says what to change.
public enum MemoryRecordError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text does not start with a `---` line opening the front matter.
    case missingFrontMatter
    /// The front matter opened on line 1 has no closing `---` line.
    case unterminatedFrontMatter
    /// A front matter line is not `key: value`.
    case malformedLine(line: Int, text: String)
    /// A front matter key this format doesn't define.
    case unknownKey(line: Int, key: String)
    /// A front matter key given twice.
    case duplicateKey(line: Int, key: String)
    /// A required front matter key (`id`, `type`, `created`) is absent.
    case missingKey(String)
    /// A field's value is invalid; `line` is nil when the value came from code rather than a file.
    case invalidValue(line: Int?, key: String, reason: String)
    /// The body is empty or larger than ``MemoryRecord/maximumBodyBytes``.
    case invalidBody(byteCount: Int)

    public var description: String {
        switch self {
        case .missingFrontMatter:
            "a memory file must start with a '---' line opening the front matter"
        case .unterminatedFrontMatter:
            "the front matter has no closing '---' line"
        case .malformedLine(let line, let text):
            "line \(line): expected 'key: value', found '\(text.prefix(80))'"
        case .unknownKey(let line, let key):
            "line \(line): unknown key '\(key)'; known keys are \(MemoryRecord.FrontMatterKey.allNames)"
        case .duplicateKey(let line, let key):
            "line \(line): '\(key)' is given twice"
        case .missingKey(let key):
            "the front matter lacks the required key '\(key)'"
        case .invalidValue(let line?, let key, let reason):
            "line \(line): \(key) \(reason)"
        case .invalidValue(nil, let key, let reason):
            "\(key) \(reason)"
        case .invalidBody(let byteCount):
            "the body must be 1...\(MemoryRecord.maximumBodyBytes) bytes of UTF-8, found \(byteCount)"
        }
    }
}
