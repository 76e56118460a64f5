import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyGateway

struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Run the gateway daemon in the foreground (SIGINT/SIGTERM stop it gracefully)."
    )

    @OptionGroup var options: HomeOptions
    @Option(help: "Address to listen on (default from config.toml: 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (default from config.toml: 18470).") var port: Int?
    @Flag(help: "Allow a non-loopback --host (also needs gateway.allow_remote = true in config.toml).")
    var allowRemote = false

    func run() async throws {
        try await report {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel =
                    ProcessInfo.processInfo.environment["OSPREY_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
                    ?? .info
                return handler
            }
            let logger = Logger(label: "osprey")
            do {
                try await Daemon.run(
                    home: options.resolved,
                    host: host,
                    port: port,
                    allowRemote: allowRemote,
                    logger: logger
                )
            } catch let error as DaemonError {
                throw CLIError(error.description, exitCode: error.exitCode)
            }
        }
    }
}

struct StatusCommand: GatewayClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show whether the gateway runs, and its counters."
    )
    @OptionGroup var options: HomeOptions
    @Flag(help: "Print JSON.") var json = false

    func run(_ gateway: GatewayClient) async throws {
        let status = try await gateway.request(.GET, "/api/status")
        if json {
            printJSON(status)
            return
        }
        print("gateway   running (version \(status["version"]?.stringValue ?? "?"))")
        print("home      \(status["home"]?.stringValue ?? "?")")
        print("uptime    \(status["uptime_seconds"]?.intValue ?? 0)s")
        print("sessions  \(status["sessions"]?.intValue ?? 0)")
        print("events    \(status["events"]?.intValue ?? 0)")
        let writes = status["writes"]
        print(
            "writes    \(writes?["transactions"]?.intValue ?? 0) in \(writes?["commits"]?.intValue ?? 0) commits, \(writes?["waiting"]?.intValue ?? 0) waiting"
        )
        if let backlog = status["embedding_backlog"]?.intValue { print("embedding backlog \(backlog)") }
    }
}
