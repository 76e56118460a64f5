/// What a grant allows: the one call it was asked for (`once`), or the same call again in the same session.
///
/// Stored in `approvals.scope` and sent on the wire as its raw value.
public enum ApprovalScope: String, Hashable, Sendable, CaseIterable, Codable, SQLValueConvertible,
    CustomStringConvertible
{
    case once, session

    /// The scope a caller named; ``StoreError/invalid(_:)`` for anything but `once` or `session`.
    public init(parsing text: String) throws {
        guard let scope = Self(rawValue: text) else { throw StoreError.invalid("scope must be once or session") }
        self = scope
    }

    public var description: String { rawValue }
}
