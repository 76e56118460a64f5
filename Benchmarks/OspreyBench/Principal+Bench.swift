import OspreyCore

extension Principal {
    /// The benchmarks, acting on their throwaway stores (`bench`).
    static let bench = Principal(rawValue: "bench")
}
