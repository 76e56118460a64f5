import ArgumentParser
import Foundation
import OspreyCore
import OspreyPlugins

/// `osprey plugins`: the Wasm plugins installed in the home.
struct PluginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "Wasm plugins: list, show, install from a folder, remove. The gateway loads them when it starts.",
        subcommands: [List.self, Info.self, Install.self, Remove.self, Keygen.self, Sign.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Installed plugins, their tools and their state."
        )
        @OptionGroup var options: HomeOptions

        func run() async throws {
            let home = options.resolved
            let config = (try? OspreyConfig.load(from: home.configFile)) ?? OspreyConfig()
            let plugins = Plugins.load(
                from: home.pluginsDirectory,
                trusted: Set(config.trustedPlugins),
                publishers: config.pluginPublishers
            )
            if plugins.loaded.isEmpty && plugins.failures.isEmpty {
                print("no plugins in \(home.pluginsDirectory.path)")
            }
            for plugin in plugins.loaded {
                let manifest = plugin.manifest
                let signer = try? String(
                    contentsOf: plugin.directory.appendingPathComponent(Plugins.publisherFile),
                    encoding: .utf8
                ).trimmingCharacters(in: .whitespacesAndNewlines)
                let signed = signer.map { config.pluginPublishers.contains($0) } ?? false
                let trust =
                    signed && config.trustedPlugins.contains(manifest.name)
                    ? "trusted" : signed ? "signed, untrusted" : "unsigned, untrusted"
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
        static let configuration = CommandConfiguration(
            commandName: "info",
            abstract: "One plugin's manifest: tools, limits, ABI."
        )
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
            print("may reach: \(manifest.capabilities.summary)")
            for tool in manifest.tools {
                print("tool \(manifest.name)__\(tool.name): \(tool.description)")
                print("  parameters: \(tool.parameters.canonicalJSON)")
            }
        }
    }

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Install a plugin from a signed package (.ospkg) or a folder; restart the gateway to load it.",
            discussion: """
                A package is verified before anything is written: its signature against [plugins] publishers in \
                config.toml, every file's SHA-256 against its manifest, and every entry (regular files with plain \
                relative paths only). An unsigned package or a folder installs only with --allow-unsigned, and its \
                output is never trusted. The plugin is then loaded (manifest, module, imports) from a staging \
                folder, and only its plugin.toml and module are kept.
                """
        )
        @OptionGroup var install: PackageInstall

        func run() async throws {
            let (files, publisher) = try install.read(sign: "osprey plugins sign") { source in
                let manifest = try PluginManifest(
                    toml: try String(
                        contentsOf: source.appendingPathComponent(PluginManifest.fileName),
                        encoding: .utf8
                    )
                )
                var files: [String: [UInt8]] = [:]
                for file in [PluginManifest.fileName, manifest.module] {
                    files[file] = [UInt8](try Data(contentsOf: source.appendingPathComponent(file)))
                }
                return files
            }
            guard let text = files[PluginManifest.fileName].map({ String(decoding: $0, as: UTF8.self) }) else {
                throw CLIError("package refused: it has no plugin.toml")
            }
            let manifest = try PluginManifest(toml: text)
            guard let module = files[manifest.module] else {
                throw CLIError("package refused: it has no \(manifest.module)")
            }
            let plugins = install.options.resolved.pluginsDirectory
            let target = plugins.appendingPathComponent(manifest.name)
            try install.mayInstall("plugin", named: manifest.name, at: target)
            let staging = plugins.appendingPathComponent(".staging-\(manifest.name)-\(getpid())")
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: staging) }
            try Data(text.utf8).write(to: staging.appendingPathComponent(PluginManifest.fileName))
            try Data(module).write(to: staging.appendingPathComponent(manifest.module))
            if let publisher {
                try Data(publisher.utf8).write(to: staging.appendingPathComponent(Plugins.publisherFile))
            }
            _ = try WasmPlugin(directory: staging)  // what is kept is what was checked
            try install.place(staging, at: target)
            let how = publisher.map { "signed by \($0.prefix(16))…" } ?? "unsigned: its output is untrusted"
            print(
                "installed \(manifest.name) \(manifest.version) (\(how)) in \(target.path); restart the gateway to load it"
            )
            print("it may reach: \(manifest.capabilities.summary)")
        }
    }

    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keygen",
            abstract:
                "Make an Ed25519 key pair for signing packages: the private key to a file (0600), the public key printed."
        )
        @Option(help: "Where to write the private key.") var out: String

        func run() async throws {
            guard !FileManager.default.fileExists(atPath: out) else { throw CLIError("\(out) exists; not overwritten") }
            let (privateKey, publicKey) = PluginPackage.keyPair()
            guard
                FileManager.default.createFile(
                    atPath: out,
                    contents: Data((privateKey + "\n").utf8),
                    attributes: [.posixPermissions: 0o600]
                )
            else { throw CLIError("cannot write \(out)") }
            print("private key: \(out) (keep it secret)")
            print("public key:  \(publicKey)")
            print("users trust it with: [plugins] publishers = [\"\(publicKey)\"]")
        }
    }

    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign",
            abstract: "Pack a plugin folder (plugin.toml and module) into a signed package (.ospkg, a tar archive)."
        )
        @Argument(help: "The plugin's folder.") var folder: String
        @Option(help: "The private key file (osprey plugins keygen).") var key: String
        @Option(help: "The package to write.") var out: String

        func run() async throws {
            let source = URL(fileURLWithPath: folder)
            let plugin = try WasmPlugin(directory: source)  // only a plugin that loads is signed
            var files: [String: [UInt8]] = [:]
            for file in [PluginManifest.fileName, plugin.manifest.module] {
                files[file] = [UInt8](try Data(contentsOf: source.appendingPathComponent(file)))
            }
            let privateKey = try String(contentsOf: URL(fileURLWithPath: key), encoding: .utf8)
            let package = try PluginPackage.pack(files, privateKey: privateKey)
            try Data(package).write(to: URL(fileURLWithPath: out))
            print(
                "signed \(plugin.manifest.name) \(plugin.manifest.version) → \(out) (publisher \(try PluginPackage.publicKey(of: privateKey)))"
            )
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Remove an installed plugin."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The plugin's name.") var name: String

        func run() async throws {
            guard PluginManifest.isValidName(name) else { throw CLIError("'\(name)' is not a plugin name") }
            let target = options.resolved.pluginsDirectory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: target.path) else {
                throw CLIError("no plugin named '\(name)' in \(options.resolved.pluginsDirectory.path)")
            }
            try FileManager.default.removeItem(at: target)
            // Its own store goes with it.
            let state = options.resolved.pluginsDirectory.appendingPathComponent(Plugins.stateFolder)
                .appendingPathComponent("\(name).json")
            if FileManager.default.fileExists(atPath: state.path) { try FileManager.default.removeItem(at: state) }
            print("removed \(name); restart the gateway to unload it")
        }
    }
}
