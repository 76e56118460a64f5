/// A heap buffer of floats that concurrent tasks write, each task to its own part.
///
/// It is `@unchecked Sendable` with no lock because no two tasks touch the same floats: the encoder's tasks
/// write disjoint rows (a chunk of tokens) or disjoint columns (one attention head), and
/// `DispatchQueue.concurrentPerform` returns only after every task has finished, which orders those writes
/// before any later read. The owner deallocates it.
struct SharedFloats: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>

    /// Allocates room for `count` floats, uninitialized.
    init(count: Int) {
        base = .allocate(capacity: count)
    }

    /// Frees the memory; the buffer must not be used afterwards.
    func deallocate() {
        base.deallocate()
    }
}
