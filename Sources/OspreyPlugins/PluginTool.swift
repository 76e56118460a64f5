public import Foundation
public import Logging
public import OspreyCore
public import OspreyTools

/// A tool a plugin exports, offered to agents as `plugin__tool` and granted like an MCP server's (by name or
/// `plugin__*`; `*` never grants it).
///
/// A call is judged by what the plugin may reach (``PluginManifest/Capabilities/risk``: `read`, `write` when it may
/// write files, `network` when it may fetch); its description is the plugin author's words, shown to the model
/// fenced as data; its output is untrusted unless the plugin is trusted in config and fetches nothing, and a call
/// that read a file a tainted run wrote is untrusted whatever the plugin.
public struct PluginTool: Tool {
    public typealias Arguments = JSONValue

    let plugin: WasmPlugin
    let tool: String
    let trusted: Bool
    let secrets: (@Sendable (String) throws -> String)?
    let state: PluginState?
    public let definition: ToolDefinition

    public init(
        plugin: WasmPlugin,
        tool: PluginManifest.ExportedTool,
        trusted: Bool,
        secrets: (@Sendable (String) throws -> String)? = nil,
        state: PluginState? = nil
    ) {
        self.plugin = plugin
        self.tool = tool.name
        self.trusted = trusted
        self.secrets = secrets
        self.state = state
        let name = plugin.manifest.name
        definition = ToolDefinition(
            name: "\(name)__\(tool.name)",
            description: ToolDefinition.quoting(
                "Tool '\(tool.name)' of the Wasm plugin '\(name)' \(plugin.manifest.version) (sandboxed; "
                    + "\(trusted ? "trusted" : "untrusted")).",
                "Its own description",
                from: "its author",
                tool.description.prefix(1024)
            ),
            parameters: tool.parameters
        )
    }

    public func assess(_ arguments: JSONValue, context: ToolContext) -> ToolAssessment {
        let capabilities = plugin.manifest.capabilities
        return ToolAssessment(risk: capabilities.risk, untrustedOutput: !trusted || !capabilities.hosts.isEmpty)
    }

    public func call(_ arguments: JSONValue, context: ToolContext) async throws -> String {
        let host = PluginHost(
            plugin: plugin.manifest,
            tool: definition.name,
            context: context,
            secrets: secrets,
            state: state
        )
        do {
            let answer = try await plugin.call(tool, arguments: arguments, host: host)
            if host.readUntrustedContent { OutputTrust.markUntrusted() }
            // A secret the plugin was given never reaches the model through its answer.
            return host.redactor.redact(answer)
        } catch let error as PluginError {
            throw ToolArgumentError(description: host.redactor.redact(error.description))
        }
    }
}

/// The plugins installed in a home (`<home>/plugins/NAME/`), loaded at start: the tools they export, and why any
/// that did not load did not.
public struct Plugins: Sendable {
    public var loaded: [WasmPlugin]
    /// The folder name of each plugin that did not load, and why.
    public var failures: [String: String]
    public var tools: [any Tool]

    /// The file an installed package's folder keeps its signer's public key in (absent: installed unsigned).
    public static let publisherFile = ".publisher"

    /// The folder plugins' key-value stores are kept in (`<plugins>/.state/NAME.json`).
    public static let stateFolder = ".state"

    /// Loads every plugin folder under `directory`. A plugin's output is trusted only when `trusted` names it and a
    /// key of `publishers` signed the package it was installed from; `secrets` looks up the secrets plugins were
    /// granted.
    public static func load(
        from directory: URL,
        trusted: Set<String> = [],
        publishers: [String] = [],
        secrets: (@Sendable (String) throws -> String)? = nil,
        logger: Logger? = nil
    ) -> Plugins {
        var plugins = Plugins(loaded: [], failures: [:], tools: [])
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.sorted() ?? []
        for folder in folders where !folder.hasPrefix(".") {
            let url = directory.appendingPathComponent(folder)
            do {
                let plugin = try WasmPlugin(directory: url)
                guard plugin.manifest.name == folder else {
                    throw PluginError.manifest(
                        "plugin.toml: name '\(plugin.manifest.name)' is not its folder's, '\(folder)'"
                    )
                }
                plugins.loaded.append(plugin)
                let signer = try? String(contentsOf: url.appendingPathComponent(publisherFile), encoding: .utf8)
                let signed =
                    signer.map { publishers.contains($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? false
                let state = PluginState(
                    file: directory.appendingPathComponent(stateFolder).appendingPathComponent("\(folder).json")
                )
                for tool in plugin.manifest.tools {
                    plugins.tools.append(
                        PluginTool(
                            plugin: plugin,
                            tool: tool,
                            trusted: signed && trusted.contains(folder),
                            secrets: secrets,
                            state: state
                        )
                    )
                }
                logger?.info(
                    "plugin loaded",
                    metadata: ["plugin": "\(folder)", "tools": "\(plugin.manifest.tools.count)"]
                )
            } catch {
                plugins.failures[folder] = "\(error)"
                logger?.error("plugin not loaded", metadata: ["plugin": "\(folder)", "error": "\(error)"])
            }
        }
        return plugins
    }
}
