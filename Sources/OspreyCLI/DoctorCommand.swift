import ArgumentParser
import COspreySystem
import Foundation
import OspreyCore
import OspreyGateway
import OspreyMemory
import OspreyPlugins
import OspreySandbox
import OspreyStore
import OspreyTools

#if canImport(Glibc)
import Glibc
#endif

/// `osprey doctor`: checks the home, the database, the port, the sandbox mechanisms and the providers.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the installation and say what is wrong."
    )
    @OptionGroup var options: HomeOptions

    enum Level: String {
        case ok = "ok  "
        case warn = "warn"
        case fail = "FAIL"
    }

    func run() async throws {
        try await report {
            let home = options.resolved
            var failures = 0
            func line(_ level: Level, _ text: String) {
                if level == .fail { failures += 1 }
                print("\(level.rawValue)  \(text)")
            }
            guard FileManager.default.fileExists(atPath: home.root.path) else {
                line(.fail, "home \(home.root.path) does not exist: run `osprey gateway --home \(home.root.path)` once")
                throw ExitCode(1)
            }
            // Home and file permissions.
            let homeMode = Home.mode(of: home.root) ?? 0
            line(homeMode & 0o077 == 0 ? .ok : .warn, String(format: "home %@ mode %o", home.root.path, homeMode))
            for (name, url) in [("token", home.tokenFile), ("ledger key", home.ledgerKeyFile)] {
                guard let mode = Home.mode(of: url) else {
                    line(.fail, "\(name) \(url.path) is missing")
                    continue
                }
                line(
                    mode == 0o600 ? .ok : .fail,
                    String(format: "%@ %@ mode %o%@", name, url.path, mode, mode == 0o600 ? "" : " (must be 600)")
                )
            }
            // Configuration.
            var config = OspreyConfig()
            do {
                config = try OspreyConfig.load(from: home.configFile)
                line(.ok, "config \(home.configFile.path) parses")
            } catch {
                line(.fail, "config: \(error)")
            }
            // MCP servers: a command the gateway could not start means a server with no tools.
            for server in config.mcpServers {
                if server.transport == "http" {
                    line(.ok, "mcp server \(server.name): \(server.url ?? "") over HTTP (\(server.trust))")
                } else if CommandRunner.which(server.command) != nil {
                    line(.ok, "mcp server \(server.name): \(server.command) (\(server.trust))")
                } else {
                    line(
                        .fail,
                        "mcp server \(server.name): command '\(server.command)' not found; it will offer no tools"
                    )
                }
            }
            // Plugins: one that does not load offers no tools.
            let plugins = Plugins.load(from: home.pluginsDirectory, trusted: Set(config.trustedPlugins))
            for plugin in plugins.loaded {
                let tools = plugin.manifest.tools.map(\.name).joined(separator: ", ")
                line(.ok, "plugin \(plugin.manifest.name) \(plugin.manifest.version): \(tools)")
            }
            for (name, reason) in plugins.failures.sorted(by: { $0.key < $1.key }) {
                line(.fail, "plugin \(name): \(reason); it offers no tools")
            }
            // Skills: one the scan refused or whose requirements are missing is not offered.
            let skills = SkillCatalog.load(
                home: home.skillsDirectory,
                workspace: home.workspaceDirectory.appendingPathComponent("skills")
            )
            for skill in skills.skills {
                if let reason = skill.unavailable {
                    line(.warn, "skill \(skill.name): unavailable: \(reason)")
                } else {
                    line(.ok, "skill \(skill.name) (\(skill.trusted ? "home" : "workspace, untrusted"))")
                }
            }
            for (path, reason) in skills.failures.sorted(by: { $0.key < $1.key }) {
                line(.fail, "skill at \(path): \(reason)")
            }
            // Agents that can act on the host or the network without a human.
            let agentNames = ["default"] + config.agents.keys.sorted().filter { $0 != "default" }
            for name in agentNames {
                let agent = config.agent(name)
                let tools = agent.tools ?? OspreyConfig.Agent.readOnlyTools
                let all = tools.contains("*")
                var reach: [String] = []
                if (all || tools.contains("run_command")) && agent.exec != "none" {
                    reach.append("exec (\(agent.exec))")
                    if agent.commandNetwork {
                        reach.append(
                            "commands reach \(agent.networkHosts.joined(separator: ", ")) via the egress proxy"
                        )
                    }
                }
                if all || tools.contains("http_fetch") { reach.append("network") }
                if all { reach.append("every tool (\"*\")") }
                if reach.isEmpty {
                    line(.ok, "agent \(name): tools \(tools.joined(separator: ", "))")
                } else if agent.approval == "autonomous" {
                    line(.warn, "agent \(name) has \(reach.joined(separator: ", ")) and approval = autonomous")
                } else {
                    line(.ok, "agent \(name) has \(reach.joined(separator: ", ")); approval = \(agent.approval)")
                }
            }
            // Database integrity and the ledger chain.
            if FileManager.default.fileExists(atPath: home.databaseFile.path) {
                do {
                    let store = try Store.open(
                        path: home.databaseFile.path,
                        ledgerKey: try home.readLedgerKey(),
                        durability: .normal
                    )
                    let integrity = try await store.integrityCheck()
                    line(
                        integrity == ["ok"] ? .ok : .fail,
                        "database integrity: \(integrity.prefix(3).joined(separator: "; "))"
                    )
                    // What the writer connection really uses, not what the configuration asked for.
                    let live = try Store.open(
                        path: home.databaseFile.path,
                        ledgerKey: try home.readLedgerKey(),
                        durability: config.ledger.synchronous == "normal" ? .normal : .full
                    )
                    let synchronous = try await live.writerSynchronous()
                    let expected = config.ledger.synchronous == "normal" ? 1 : 2
                    line(
                        synchronous == expected ? .ok : .fail,
                        "ledger writer synchronous = \([0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"][synchronous] ?? "?")"
                            + " (configured \(config.ledger.synchronous))"
                    )
                    let verification = try await store.ledger.verify()
                    if verification.ok {
                        line(.ok, "ledger chain verified: \(verification.count) events")
                    } else {
                        line(
                            .fail,
                            "ledger broken at seq \(verification.firstBadSeq ?? 0): \(verification.reason ?? "")"
                        )
                    }
                } catch {
                    line(.fail, "database: \(error)")
                }
            } else {
                line(.warn, "no database yet (created on first gateway start)")
            }
            // Port: owned by our gateway, free, or taken by something else.
            if let holder = HomeLock.holder(of: home.lockFile) {
                line(.ok, "gateway running on this home (pid \(holder["pid"] ?? "?"), port \(holder["port"] ?? "?"))")
            } else if Self.portIsFree(host: config.gateway.host, port: config.gateway.port) {
                line(.ok, "port \(config.gateway.port) on \(config.gateway.host) is free (gateway not running)")
            } else {
                line(.fail, "port \(config.gateway.port) on \(config.gateway.host) is in use by another process")
            }
            // Sandbox mechanisms the kernel offers.
            for (name, available, detail) in Self.sandboxProbes() {
                line(
                    available ? .ok : .warn,
                    "sandbox \(name): \(available ? "available" : "missing")\(detail.isEmpty ? "" : " (\(detail))")"
                )
            }
            // The ladder commands would run under with this config, proven by running one through it.
            var limits = Sandbox.Limits()
            limits.memoryBytes = config.sandbox.memoryBytes
            limits.processes = config.sandbox.maxProcesses
            let sandbox = Sandbox.resolve(
                backend: config.sandbox.backend,
                hidden: [home.root.path],
                limits: limits
            )
            switch sandbox.rung {
            case .unavailable(let reason):
                line(.fail, "commands are refused: \(reason)")
            case .bare:
                line(.warn, "sandbox.backend = \"none\": commands run bare, with no limits (development only)")
            case .process, .bubblewrap:
                let probe = await SandboxProbe.run(sandbox)
                for layer in probe {
                    line(
                        layer.active ? .ok : .fail,
                        "sandbox layer \(layer.name): \(layer.active ? "active" : "NOT active")\(layer.detail)"
                    )
                }
                if case .process = sandbox.rung {
                    line(.warn, "sandbox.backend = \"process\": no namespaces (Landlock, seccomp and limits only)")
                }
                if sandbox.controlGroups == nil {
                    line(.warn, "cgroup v1 memory/pids limits unavailable: commands get rlimits only")
                }
            }
            // Memory: files that do not parse are reported, never silently dropped; the embedder's files.
            let invalid = MemoryBank.invalidFiles(in: home.memoryDirectory)
            for (file, reason) in invalid.sorted(by: { $0.key < $1.key }) {
                line(.warn, "memory/\(file) does not parse: \(reason) (it is left out of the index)")
            }
            if config.memory.embedder == "minilm" {
                let found = Kernel.modelDirectories(config: config, home: home).first {
                    FileManager.default.fileExists(atPath: $0.appendingPathComponent("model.safetensors").path)
                }
                line(
                    found == nil ? .warn : .ok,
                    found.map { "memory embedder all-MiniLM-L6-v2 (\($0.path))" }
                        ?? "memory embedder all-MiniLM-L6-v2 not installed (run scripts/install-deps): keyword search only"
                )
            }
            // Providers.
            if config.providers.isEmpty {
                line(
                    config.localModelEnabled ? .ok : .warn,
                    config.localModelEnabled
                        ? "no providers configured: agents use the local model (\(config.localModel.modelName))"
                        : "no providers configured and the local model is disabled: agents cannot run"
                )
            } else {
                for provider in config.providers {
                    let key = provider.apiKey == nil ? "no api_key" : "api_key set"
                    line(
                        .ok,
                        "provider \(provider.name) (\(provider.kind), \(provider.baseURL ?? "default URL"), \(key))"
                    )
                }
            }
            if failures > 0 { throw ExitCode(1) }
        }
    }

    static func portIsFree(host: String, port: Int) -> Bool {
        IPv4Socket.open(host: host == "localhost" ? "127.0.0.1" : host, port: port) { descriptor, address, length in
            bind(descriptor, address, length) == 0
        } ?? false
    }

    /// What the kernel and the system offer for the sandbox ladder: bubblewrap, Landlock, seccomp, cgroup v1.
    static func sandboxProbes() -> [(String, Bool, String)] {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let bwrap = path.split(separator: ":").map { "\($0)/bwrap" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        let landlock = osprey_landlock_abi_version()
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let seccomp = status.contains("Seccomp:")
        let cgroupMemory = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/memory.limit_in_bytes")
        return [
            ("bubblewrap", bwrap != nil, bwrap ?? "install the bubblewrap package"),
            (
                "landlock", landlock > 0,
                landlock > 0 ? "ABI \(landlock)" : "kernel says \(String(cString: strerror(-landlock)))"
            ),
            ("seccomp", seccomp, ""),
            ("cgroup v1 memory", cgroupMemory, ""),
        ]
    }
}
