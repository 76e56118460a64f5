/// A vocabulary stored as strings (event kinds, principals, model call outcomes): a struct over its raw string, so
/// each known word is a constant rather than a literal, encoded as the bare string (the standard library's coding
/// for string-backed `RawRepresentable` types) and described as itself.
public protocol StringVocabulary: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible
where RawValue == String {}

extension StringVocabulary {
    public var description: String { rawValue }
}
