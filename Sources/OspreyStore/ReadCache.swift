import Synchronization

/// A value read from the database, kept until a change. A change marks the cache open from before its transaction
/// until after its commit: in between, readers go to the database; and a read that overlapped a change is not kept,
/// so the cache never holds what the database no longer says.
final class ReadCache<Value: Sendable>: Sendable {
    private let state = Mutex<(value: Value?, generation: Int, changing: Int)>((nil, 0, 0))

    /// The cached value (nil while a change is under way or after one), and the generation to store a read under.
    func current() -> (value: Value?, generation: Int) {
        state.withLock { ($0.changing > 0 ? nil : $0.value, $0.generation) }
    }

    func store(_ value: Value, ifStill generation: Int) {
        state.withLock { if $0.generation == generation && $0.changing == 0 { $0.value = value } }
    }

    func changing() { state.withLock { $0 = (nil, $0.generation + 1, $0.changing + 1) } }

    /// After the change committed (or failed: a spurious reload costs one query).
    func changed() { state.withLock { $0 = (nil, $0.generation + 1, $0.changing - 1) } }

    /// Another process committed a change (another gateway on the same database): read again.
    func invalidate() { state.withLock { $0 = (nil, $0.generation + 1, $0.changing) } }

    /// Runs a change with the cache open around it.
    func changing<T>(_ body: () async throws -> T) async rethrows -> T {
        changing()
        defer { changed() }
        return try await body()
    }
}
