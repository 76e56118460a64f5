public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why the home directory cannot be used.
public struct HomeError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The Osprey home directory (`--home`, `$OSPREY_HOME`, or `~/.osprey`) and the files in it.
public struct Home: Hashable, Sendable {
    public var root: URL

    public init(root: URL) { self.root = root.standardizedFileURL }

    /// The home a command should use: the flag, then `OSPREY_HOME`, then `~/.osprey`.
    public static func resolve(
        _ flag: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Home {
        if let flag, !flag.isEmpty { return Home(root: URL(fileURLWithPath: flag)) }
        if let env = environment["OSPREY_HOME"], !env.isEmpty { return Home(root: URL(fileURLWithPath: env)) }
        let base = environment["HOME"] ?? NSHomeDirectory()
        return Home(root: URL(fileURLWithPath: base).appendingPathComponent(".osprey"))
    }

    public var configFile: URL { root.appendingPathComponent("config.toml") }
    public var tokenFile: URL { root.appendingPathComponent("token") }
    public var databaseFile: URL { root.appendingPathComponent("osprey.db") }
    public var secretsDirectory: URL { root.appendingPathComponent("secrets") }
    /// The key that signs the ledger head; it lives outside the database so editing the database cannot forge it.
    public var ledgerKeyFile: URL { secretsDirectory.appendingPathComponent("ledger.key") }
    /// The gateway's Ed25519 private key (32 bytes, hex): it signs receipts.
    public var identityKeyFile: URL { secretsDirectory.appendingPathComponent("identity.key") }
    public var memoryDirectory: URL { root.appendingPathComponent("memory") }
    public var workspaceDirectory: URL { root.appendingPathComponent("workspace") }
    public var logsDirectory: URL { root.appendingPathComponent("logs") }
    /// The operator's skills, one folder each (`skills/NAME/SKILL.md`).
    public var skillsDirectory: URL { root.appendingPathComponent("skills") }
    /// Personas written as Markdown files (`personas/NAME.md`).
    public var personasDirectory: URL { root.appendingPathComponent("personas") }
    /// Installed Wasm plugins, one folder each (`plugins/NAME/plugin.toml`).
    public var pluginsDirectory: URL { root.appendingPathComponent("plugins") }
    /// SafeSwitch snapshots: what each change replaced, kept until it ends.
    public var switchesDirectory: URL { root.appendingPathComponent("switches") }
    /// Held with an exclusive lock while a gateway runs on this home; records its pid and address.
    public var lockFile: URL { root.appendingPathComponent("gateway.lock") }
    /// The running gateway's MCP socket, which `osprey mcp serve` carries a host's stdio to.
    public var mcpSocket: URL { root.appendingPathComponent("mcp.sock") }
    /// What is kept only to be faster (the local model's evaluated openings): deleting it loses nothing, and backups
    /// leave it out.
    public var cacheDirectory: URL { root.appendingPathComponent("cache") }
    /// Room kept on the disk for the cost of model calls a full disk would not let the store record, over a stop.
    public var owedChargesFile: URL { root.appendingPathComponent("owed-charges") }

    /// Subdirectories created on first start, all private to the owner.
    public var directories: [URL] {
        [
            root, secretsDirectory, memoryDirectory, workspaceDirectory, logsDirectory,
            root.appendingPathComponent("skills"), root.appendingPathComponent("plugins"),
        ]
    }

    /// Creates whatever is missing: directories (0700), `config.toml`, `token` (0600), the ledger key (0600).
    ///
    /// Existing files are never overwritten. Returns true when the home was new.
    @discardableResult
    public func bootstrap(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Bool {
        let isNew = !FileManager.default.fileExists(atPath: tokenFile.path)
        for directory in directories {
            do {
                try FileManager.default.createDirectory(
                    at: directory,
                    withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700]
                )
            } catch {
                throw HomeError("cannot create \(directory.path): \(error.localizedDescription)")
            }
        }
        if isNew {
            // A new home is private to its owner, even if its directory was made beforehand with a looser mode.
            _ = chmod(root.path, 0o700)
        }
        try Self.createFile(at: configFile, contents: OspreyConfig.initialText(environment: environment), mode: 0o600)
        try Self.createFile(at: tokenFile, contents: Self.newToken() + "\n", mode: 0o600)
        try Self.createFile(at: ledgerKeyFile, contents: Self.randomHex(bytes: 32) + "\n", mode: 0o600)
        // The gateway's Ed25519 identity: it signs receipts.
        try Self.createFile(at: identityKeyFile, contents: Self.randomHex(bytes: 32) + "\n", mode: 0o600)
        return isNew
    }

    /// The admin token the CLI presents to the gateway.
    public func readToken() throws -> String {
        guard let text = try? String(contentsOf: tokenFile, encoding: .utf8) else {
            throw HomeError(
                "no token at \(tokenFile.path): start the gateway once with `osprey gateway --home \(root.path)`"
            )
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw HomeError("token file \(tokenFile.path) is empty") }
        return token
    }

    /// The bytes of the ledger head key.
    public func readLedgerKey() throws -> [UInt8] {
        guard let text = try? String(contentsOf: ledgerKeyFile, encoding: .utf8) else {
            throw HomeError("no ledger key at \(ledgerKeyFile.path)")
        }
        guard let bytes = Self.parseKey(text) else {
            throw HomeError("ledger key at \(ledgerKeyFile.path) is malformed")
        }
        return bytes
    }

    /// A key file's 32 bytes (64 hex digits: the ledger key, the identity key), or nil when malformed.
    public static func parseKey(_ text: String) -> [UInt8]? {
        let hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard hex.count == 64 else { return nil }
        return [UInt8](hexString: hex)
    }

    /// A fresh API token: `osp_` and 64 hex digits from the system's secure generator.
    public static func newToken() -> String { "osp_" + randomHex(bytes: 32) }

    public static func randomHex(bytes count: Int) -> String {
        // Eight bytes a draw (`UInt8.random` takes a whole draw, one system call, for each byte).
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 7)
        while bytes.count < count { withUnsafeBytes(of: generator.next()) { bytes += $0 } }
        return bytes.prefix(count).hexString
    }

    /// Creates a file with `mode` from the first byte (no window where it is world-readable); keeps an existing one.
    /// Written whole and synced before it is named (``DurableFile``): a failed write (a full disk, a file size limit),
    /// a crash or a power cut leaves no file or the whole one, never a partial one that every later start would keep
    /// as if it were whole (a truncated `config.toml`, a short key).
    /// `contents` is made only for a file that is not there (a new key is not drawn at every start).
    static func createFile(at url: URL, contents: @autoclosure () -> String, mode: mode_t) throws {
        try DurableFile.create(url.path, bytes: Array(contents().utf8), mode: mode)
    }

    /// The permission bits of a file, or nil if it does not exist.
    public static func mode(of url: URL) -> Int? {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return nil }
        return Int(info.st_mode & 0o777)
    }
}
