import Foundation
import Synchronization

extension PostgresServer {
    /// A new, empty database on the test process's one shared server (started at first use, stopped when the
    /// process exits); its URL. For tests whose bodies need a database of their own but not a server of their own.
    public static func sharedDatabase() async throws -> String {
        try await SharedPostgres.instance.database()
    }

    /// The stop of the shared server, run once at exit: `pg_ctl stop -m immediate`, then its folder removed.
    func stopAtExit() -> @Sendable () -> Void {
        let (binaries, data, asUser, directory) = (binaries, data, asUser, directory)
        return {
            let process = Process()
            let pgCtl = binaries.appendingPathComponent("pg_ctl").path
            let arguments = ["-D", data, "-m", "immediate", "-w", "stop"]
            if let asUser {
                process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
                process.arguments = ["-u", asUser, "--", pgCtl] + arguments
            } else {
                process.executableURL = URL(fileURLWithPath: pgCtl)
                process.arguments = arguments
            }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            do {
                try process.run()
                process.waitUntilExit()
            } catch {
                // Nothing more to do at exit: the server then stops with the machine.
            }
            directory.remove()
        }
    }
}

/// The process's shared server and how many databases it has handed out.
private actor SharedPostgres {
    static let instance = SharedPostgres()
    /// Started once: callers that arrive while it starts wait for the same start (an actor lets them in at its
    /// `await`, so a plain "is it nil?" would start one server per caller).
    private var server: Task<PostgresServer, any Error>?
    private var databases = 0

    func database() async throws -> String {
        let starting =
            server
            ?? Task {
                // Every test's stores on one server: room for the many that tests leave open until the process ends.
                let server = try await PostgresServer(maxConnections: 1000)
                atExit.withLock { $0 = server.stopAtExit() }
                atexit { atExit.withLock { $0 }?() }
                return server
            }
        server = starting
        databases += 1
        let name = "shared\(databases)"
        return try await starting.value.createDatabase(name)
    }
}

/// What the exit handler runs (a C function pointer captures nothing, so it reads this).
private let atExit = Mutex<(@Sendable () -> Void)?>(nil)
