public import OspreyCore
public import OspreyStore

/// The engines a store runs on, for tests whose body must pass on both.
public enum StoreEngine: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres

    public var description: String { rawValue }

    /// A new, empty store on this engine for `body`: SQLite in memory, or a private PostgreSQL server (started
    /// for this body and stopped after it, whatever it throws).
    public func withStore<T: Sendable>(
        bus: EventBus = EventBus(),
        redactor: Redactor = Redactor(),
        _ body: (Store) async throws -> T
    ) async throws -> T {
        switch self {
        case .sqlite:
            return try await body(try Store.inMemory(bus: bus, redactor: redactor))
        case .postgres:
            let server = try await PostgresServer()
            do {
                let store = try await Store.open(
                    postgres: try PostgresTarget(url: server.url()),
                    node: "test",
                    ledgerKey: Array(repeating: 7, count: 32),
                    bus: bus,
                    redactor: redactor
                )
                let value = try await body(store)
                store.close()
                await server.stop()
                return value
            } catch {
                await server.stop()
                throw error
            }
        }
    }
}
