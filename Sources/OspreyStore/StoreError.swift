public import OspreyCore

/// What went wrong in the store, with what a caller needs to answer (404, 400, 409).
public enum StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No record of `kind` has this id.
    case notFound(kind: String, id: String)
    /// The request is well-formed but breaks a rule (empty content, a bad filter).
    case invalid(String)
    /// The home has no usable ledger key or database.
    case unavailable(String)
    /// The record is in a state that forbids the change (an approval already decided or expired).
    case conflict(String)

    /// Whether the store could not do it at all (its disk full or failing, its database out of reach), rather than
    /// refused it: the same call may succeed later.
    public var isUnavailable: Bool {
        if case .unavailable = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .notFound(let kind, let id): "no \(kind) with id '\(id)'"
        case .invalid(let message): message
        case .unavailable(let message): message
        case .conflict(let message): message
        }
    }
}
