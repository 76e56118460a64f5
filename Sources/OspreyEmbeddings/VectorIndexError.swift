/// Why a vector index refused a vector or its serialized form; `description` says what is wrong.
public enum VectorIndexError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A vector's length differs from the index's dimension.
    case dimensionMismatch(expected: Int, actual: Int)
    /// A vector is all zeros or holds NaN or infinity, so it has no direction to compare.
    case invalidVector(id: String)
    /// Serialized index data is truncated, corrupt or from an unknown version.
    case corruptIndex(reason: String)

    public var description: String {
        switch self {
        case .dimensionMismatch(let expected, let actual):
            "the vector has \(actual) dimensions, the index \(expected)"
        case .invalidVector(let id):
            "the vector for '\(id)' is all zeros or not finite"
        case .corruptIndex(let reason):
            "the serialized index is unusable: \(reason)"
        }
    }
}
