public import Foundation
import OspreyTools

/// A private PostgreSQL server for a test or a benchmark: `initdb` in a fresh temporary folder, listening only on a
/// Unix socket in that folder, trust authentication for the one user `osprey`, stopped and removed by ``stop()``.
///
/// PostgreSQL refuses to run as root, so under root (as in CI) the folder is given to Debian's `postgres` user and
/// every server command runs as that user through `runuser`.
public final class PostgresServer: Sendable {
    public let directory: TemporaryDirectory
    let binaries: URL
    let asUser: String?
    let maxConnections: Int

    /// The folder of Debian's PostgreSQL programs (the newest version installed), or nil when none is.
    public static var binaries: URL? {
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return versions.compactMap(Int.init).sorted().last.map {
            root.appendingPathComponent("\($0)/bin")
        }.flatMap { FileManager.default.fileExists(atPath: $0.appendingPathComponent("initdb").path) ? $0 : nil }
    }

    /// Creates the cluster and starts the server (taking at most `maxConnections` clients); throws with the
    /// server's own words when either fails.
    public init(maxConnections: Int = 200) async throws {
        self.maxConnections = maxConnections
        guard let binaries = Self.binaries else {
            throw ServerError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): scripts/install-deps")
        }
        self.binaries = binaries
        // A short path: the socket's full name must fit in 107 bytes.
        directory = try TemporaryDirectory(prefix: "opg")
        asUser = getuid() == 0 ? "postgres" : nil
        if let asUser {
            try await Self.execute("/usr/bin/chown", ["-R", asUser, directory.path])
        }
        try await command(
            "initdb",
            ["-D", data, "-U", "osprey", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]
        )
        try await start()
    }

    var data: String { directory.path + "/data" }
    public var socketDirectory: String { directory.path }

    /// The URL of `database` on this server (`postgres`, the one every cluster has, by default).
    public func url(database: String = "postgres") -> String {
        "postgres://osprey@/\(database)?host=\(socketDirectory)"
    }

    /// Creates a database and returns its URL.
    public func createDatabase(_ name: String) async throws -> String {
        try await psql("CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// Starts the server (after ``stopServer(mode:)``), waiting until it accepts connections.
    public func start() async throws {
        try await command(
            "pg_ctl",
            [
                "-D", data, "-l", directory.path + "/server.log", "-w", "-t", "30", "-o",
                "-k \(socketDirectory) -c listen_addresses= -c max_connections=\(maxConnections) -c fsync=on", "start",
            ]
        )
    }

    /// Stops the server, its folder kept: `fast` rolls back open transactions and closes every connection;
    /// `immediate` is a crash.
    public func stopServer(mode: String = "fast") async throws {
        try await command("pg_ctl", ["-D", data, "-m", mode, "-w", "stop"])
    }

    /// Stops the server if it runs and removes its folder.
    public func stop() async {
        try? await stopServer(mode: "immediate")  // not running (stopped by the test, or never started) is fine
        directory.remove()
    }

    /// Runs SQL with `psql` (as the `osprey` user, on `database`) and returns its unaligned output.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") async throws -> String {
        try await Self.execute(
            binaries.appendingPathComponent("psql").path,
            [
                "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-U", "osprey", "-d", database,
                "-c", sql,
            ]
        )
    }

    private func command(_ program: String, _ arguments: [String]) async throws {
        let path = binaries.appendingPathComponent(program).path
        if let asUser {
            try await Self.execute("/usr/sbin/runuser", ["-u", asUser, "--", path] + arguments)
        } else {
            try await Self.execute(path, arguments)
        }
    }

    /// Runs a program to its end with ``CommandRunner`` (posix_spawn, no descriptor of this process inherited: the
    /// server `pg_ctl` starts would otherwise keep a pipe of ours, or Foundation's `Process` socket, open forever).
    @discardableResult
    private static func execute(_ program: String, _ arguments: [String]) async throws -> String {
        let result = try await CommandRunner.run(
            [program] + arguments,
            environment: ProcessInfo.processInfo.environment,
            directory: "/",
            timeout: .seconds(60),
            outputLimit: 1 << 20
        )
        let text = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.exitCode == 0 else {
            throw ServerError("\(program) \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }

    public struct ServerError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
