import ArgumentParser
import Foundation
import OspreyCore
import OspreyPlugins

/// `osprey plugins`: the Wasm plugins installed in the home.
struct PluginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "Wasm plugins: list, show, install from a folder, remove. The gateway loads them when it starts.",
        subcommands: [List.self, Info.self, Install.self, Remove.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Installed plugins, their tools and their state.")
        @OptionGroup var options: HomeOptions

        func run() async throws {
            let home = options.resolved
            let config = (try? OspreyConfig.load(from: home.configFile)) ?? OspreyConfig()
            let plugins = Plugins.load(from: home.pluginsDirectory, trusted: Set(config.trustedPlugins))
            if plugins.loaded.isEmpty && plugins.failures.isEmpty {
                print("no plugins in \(home.pluginsDirectory.path)")
            }
            for plugin in plugins.loaded {
                let manifest = plugin.manifest
                let trust = config.trustedPlugins.contains(manifest.name) ? "trusted" : "untrusted"
                print(
                    "\(manifest.name) \(manifest.version)  ok  \(trust)  tools: "
                        + manifest.tools.map { "\(manifest.name)__\($0.name)" }.joined(separator: ", ")
                )
            }
            for (name, reason) in plugins.failures.sorted(by: { $0.key < $1.key }) {
                print("\(name)  not loaded: \(reason)")
            }
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One plugin's manifest: tools, limits, ABI.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The plugin's name.") var name: String

        func run() async throws {
            let folder = options.resolved.pluginsDirectory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: folder.path) else {
                throw CLIError("no plugin named '\(name)' in \(options.resolved.pluginsDirectory.path)")
            }
            let plugin = try WasmPlugin(directory: folder)
            let manifest = plugin.manifest
            print("\(manifest.name) \(manifest.version) (\(manifest.abi.rawValue) ABI, module \(manifest.module))")
            if !manifest.description.isEmpty { print(manifest.description) }
            print("limits: \(manifest.fuel) fuel a call, \(manifest.memoryBytes >> 20) MiB memory")
            for tool in manifest.tools {
                print("tool \(manifest.name)__\(tool.name): \(tool.description)")
                print("  parameters: \(tool.parameters.canonicalJSON)")
            }
        }
    }

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install a plugin from a folder (its plugin.toml and module); restart the gateway to load it.",
            discussion: """
                The plugin is loaded first (manifest checked, module parsed, imports checked); only then are its \
                plugin.toml and module copied into the home, and nothing else from the folder.
                """
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The plugin's folder.") var path: String
        @Flag(help: "Replace an installed plugin of the same name.") var force = false

        func run() async throws {
            let source = URL(fileURLWithPath: path)
            let plugin = try WasmPlugin(directory: source)
            let name = plugin.manifest.name
            let plugins = options.resolved.pluginsDirectory
            let target = plugins.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: target.path) {
                guard force else { throw CLIError("a plugin named '\(name)' is installed (use --force to replace it)") }
                try FileManager.default.removeItem(at: target)
            }
            let staging = plugins.appendingPathComponent(".staging-\(name)-\(getpid())")
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
            do {
                for file in [PluginManifest.fileName, plugin.manifest.module] {
                    try FileManager.default.copyItem(
                        at: source.appendingPathComponent(file),
                        to: staging.appendingPathComponent(file)
                    )
                }
                _ = try WasmPlugin(directory: staging)  // what was copied is what was checked
                try FileManager.default.moveItem(at: staging, to: target)
            } catch {
                try? FileManager.default.removeItem(at: staging)
                throw error
            }
            print("installed \(name) \(plugin.manifest.version) in \(target.path); restart the gateway to load it")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an installed plugin.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The plugin's name.") var name: String

        func run() async throws {
            guard PluginManifest.isValidName(name) else { throw CLIError("'\(name)' is not a plugin name") }
            let target = options.resolved.pluginsDirectory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: target.path) else {
                throw CLIError("no plugin named '\(name)' in \(options.resolved.pluginsDirectory.path)")
            }
            try FileManager.default.removeItem(at: target)
            print("removed \(name); restart the gateway to unload it")
        }
    }
}
