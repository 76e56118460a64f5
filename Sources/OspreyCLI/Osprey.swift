import ArgumentParser
import Foundation
import OspreyCore
import OspreyGateway

/// The `osprey` command: the daemon and every client of it.
@main
struct Osprey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "osprey",
        abstract: "Osprey: a self-hosted agent operating system.",
        version: Kernel.version,
        subcommands: [
            GatewayCommand.self, StatusCommand.self, DoctorCommand.self, VersionCommand.self, SessionsCommand.self,
            EventsCommand.self, AuditCommand.self, TokensCommand.self, BenchCommand.self, AskCommand.self,
            ChatCommand.self,
            ModelsCommand.self, SecretsCommand.self, ApprovalsCommand.self, TasksCommand.self, CronCommand.self,
            MemoryCommand.self, MCPCommand.self, PluginsCommand.self, SkillsCommand.self, WorkflowsCommand.self,
            BudgetsCommand.self,
            PersonasCommand.self,
            CheckpointsCommand.self,
            RunCommand.self,
            ChannelsCommand.self,
            SwitchCommand.self,
            BackupCommand.self,
            ServiceCommand.self,
            ReceiptsCommand.self,
            IncidentsCommand.self,
            StoreCommand.self,
        ]
    )
}

/// `--home DIR`, shared by every command.
struct HomeOptions: ParsableArguments {
    @Option(name: .long, help: "Osprey home directory (default: $OSPREY_HOME or ~/.osprey).")
    var home: String?

    var resolved: Home { Home.resolve(home) }
}

/// A failure the user can act on: printed as one line, exit 1 (or 2 for usage and configuration).
struct CLIError: Error, CustomStringConvertible {
    var description: String
    var exitCode: Int32 = 1
    init(_ description: String, exitCode: Int32 = 1) {
        self.description = description
        self.exitCode = exitCode
    }
}

extension AsyncParsableCommand {
    /// Runs a command body; any error becomes one line on stderr and a non-zero exit, never a stack trace.
    func report(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch let error as CLIError {
            FileHandle.standardError.write(Data("osprey: \(error.description)\n".utf8))
            throw ExitCode(error.exitCode)
        } catch let error as SecretError {
            FileHandle.standardError.write(Data("osprey: \(error.description)\n".utf8))
            throw ExitCode(2)
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("osprey: \(error.description)\n".utf8))
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("osprey: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// A command that asks the running gateway: `run()` finds the gateway through the home and turns any failure into
/// one line on stderr, so the command itself only says what to ask and how to print the answer.
protocol GatewayClientCommand: AsyncParsableCommand {
    var options: HomeOptions { get }
    func run(_ gateway: GatewayClient) async throws
}

extension GatewayClientCommand {
    func run() async throws {
        try await report { try await run(GatewayClient(home: options.resolved)) }
    }
}

struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")
    func run() async throws { print("osprey \(Kernel.version)") }
}
