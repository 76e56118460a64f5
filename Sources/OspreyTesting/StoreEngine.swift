public import OspreyCore
public import OspreyStore

/// The engines a store runs on, for tests whose body must pass on both.
public enum StoreEngine: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres

    public var description: String { rawValue }

    /// A new, empty store on this engine for `body`: SQLite in memory, or a new database on the test process's
    /// shared PostgreSQL server (``PostgresServer/sharedDatabase()``).
    public func withStore<T: Sendable>(
        bus: EventBus = EventBus(),
        redactor: Redactor = Redactor(),
        _ body: (Store) async throws -> T
    ) async throws -> T {
        switch self {
        case .sqlite:
            return try await body(try Store.inMemory(bus: bus, redactor: redactor))
        case .postgres:
            // A database of its own on the process's shared server: a server per body would cost a second each.
            let store = try await Store.open(
                postgres: try PostgresTarget(url: try await PostgresServer.sharedDatabase()),
                node: "test",
                ledgerKey: Array(repeating: 7, count: 32),
                bus: bus,
                redactor: redactor
            )
            defer { store.close() }
            return try await body(store)
        }
    }
}
