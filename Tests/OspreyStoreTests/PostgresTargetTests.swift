import OspreyStore
import Testing

/// libpq's URL forms, and clear errors for the rest.
struct PostgresTargetTests {
    @Test func postgresURLsAreReadAsLibpqReadsThem() throws {
        let socket = try PostgresTarget(url: "postgres://osprey@/osprey?host=/run/postgresql&port=5433")
        #expect(socket.endpoint == .socket(path: "/run/postgresql/.s.PGSQL.5433"))
        #expect(socket.tls == .disable)
        let remote = try PostgresTarget(url: "postgresql://app:s%40cret@db.example:6543/cluster?sslmode=verify-full")
        #expect(remote.endpoint == .tcp(host: "db.example", port: 6543))
        #expect(remote.password == "s@cret")
        #expect(remote.tls == .verifyFull)
        #expect(!remote.description.contains("cret"))
        #expect(try PostgresTarget(url: "postgres://app@db.example/x").tls == .prefer)
        for bad in [
            "mysql://app@host/db", "postgres://host/db", "postgres://app@host", "postgres://app@host/db?sslmode=maybe",
            "postgres://app@host/db?port=99999", "postgres://app@host/db?color=blue", "not a url",
        ] {
            #expect(throws: StoreError.self, "\(bad)") { try PostgresTarget(url: bad) }
        }
    }
}
