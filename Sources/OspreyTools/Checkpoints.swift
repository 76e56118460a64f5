public import Foundation

/// Checkpoints of the workspace: its files committed to a git repository of Osprey's own in the home
/// (`checkpoints.git`, with the workspace as its work tree), so the user's own history (a `.git` in the workspace)
/// is never touched, and any checkpoint can be listed, compared with the files as they are, and restored.
///
/// git runs as a child of its own (posix_spawn, no descriptor of the gateway), with no system or user config and
/// a fixed identity; calls are serialized (one index). A restore first checkpoints what the workspace holds, so it
/// can itself be undone.
public actor Checkpoints {
    public let repository: URL
    public let workspace: URL

    /// One checkpoint: its commit, when, and why.
    public struct Checkpoint: Hashable, Sendable {
        public var id: String
        public var createdAt: Date
        public var label: String

        public var json: [String: String] {
            ["id": id, "created_at": ISO8601DateFormatter().string(from: createdAt), "label": label]
        }
    }

    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String
        /// True when the checkpoint asked for does not exist.
        public var notFound = false
        public init(_ description: String, notFound: Bool = false) {
            self.description = description
            self.notFound = notFound
        }
    }

    public init(repository: URL, workspace: URL) {
        self.repository = repository
        self.workspace = workspace
    }

    /// The git program on the PATH (or the usual places), or nil.
    static let program: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/bin", "/usr/local/bin"]
        return directories.map { "\($0)/git" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// A checkpoint id as the caller gave it: 7 to 40 hex digits (nothing git could read as an option or a path).
    public static func isID(_ id: String) -> Bool {
        id.range(of: "^[0-9a-f]{7,40}$", options: .regularExpression) != nil
    }

    @discardableResult
    func git(_ arguments: [String], allowFailure: Bool = false) async throws -> String {
        guard let program = Self.program else { throw Failure("git is not installed (Debian: apt-get install git)") }
        let result = try await CommandRunner.run(
            [program, "--git-dir=\(repository.path)", "--work-tree=\(workspace.path)"] + arguments,
            environment: [
                "PATH": "/usr/bin:/bin", "HOME": repository.path, "LANG": "C", "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "Osprey", "GIT_AUTHOR_EMAIL": "osprey@localhost",
                "GIT_COMMITTER_NAME": "Osprey", "GIT_COMMITTER_EMAIL": "osprey@localhost", "GIT_TERMINAL_PROMPT": "0",
            ],
            directory: workspace.path,
            timeout: .seconds(300),
            outputLimit: 8 << 20
        )
        guard result.exitCode == 0 || allowFailure else {
            throw Failure(
                "git \(arguments.first ?? ""): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
        return result.output
    }

    /// Creates the repository on first use.
    func prepare() async throws {
        guard !FileManager.default.fileExists(atPath: repository.appendingPathComponent("HEAD").path) else { return }
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        try await git(["init", "--quiet"])
        // Line endings and modes as they are on disk; no hooks run.
        try await git(["config", "core.autocrlf", "false"])
        try await git(["config", "core.hooksPath", "/dev/null"])
    }

    /// Commits every file of the workspace as it is now (even when nothing changed).
    public func create(label: String) async throws -> Checkpoint {
        try await prepare()
        try await git(["add", "--all", "."])
        let message = String(label.replacingOccurrences(of: "\n", with: " ").prefix(200))
        try await git([
            "commit", "--quiet", "--allow-empty", "--no-verify", "-m", message.isEmpty ? "checkpoint" : message,
        ])
        guard let latest = try await list(limit: 1).first else { throw Failure("the checkpoint was not recorded") }
        return latest
    }

    /// The checkpoints, newest first.
    public func list(limit: Int = 100) async throws -> [Checkpoint] {
        guard FileManager.default.fileExists(atPath: repository.appendingPathComponent("HEAD").path) else { return [] }
        let output = try await git(["log", "-n", String(limit), "--format=%H%x1f%ct%x1f%s"], allowFailure: true)
        return output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\u{1f}", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, Self.isID(String(fields[0])), let seconds = Double(fields[1]) else { return nil }
            return Checkpoint(
                id: String(fields[0]),
                createdAt: Date(timeIntervalSince1970: seconds),
                label: String(fields[2])
            )
        }
    }

    /// The full id of a checkpoint the caller named by its id or a prefix of it.
    func resolve(_ id: String) async throws -> String {
        guard Self.isID(id) else { throw Failure("'\(id)' is not a checkpoint id (7-40 hex digits)") }
        try await prepare()
        let output = try await git(["rev-parse", "--verify", "--quiet", "\(id)^{commit}"], allowFailure: true)
        let full = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard Self.isID(full), full.count == 40 else { throw Failure("no checkpoint \(id)", notFound: true) }
        return full
    }

    /// What changed in the workspace since the checkpoint: a summary per file and the patch (capped).
    public func diff(_ id: String, maxBytes: Int = 1 << 20) async throws -> (summary: String, patch: String) {
        let full = try await resolve(id)
        try await git(["add", "--all", "."])
        let summary = try await git(["diff", "--cached", "--stat", full])
        var patch = try await git(["diff", "--cached", full])
        if patch.utf8.count > maxBytes {
            patch = (String(patch.utf8.prefix(maxBytes)) ?? "") + "\n[… cut at \(maxBytes) bytes]"
        }
        return (summary, patch)
    }

    /// Puts the workspace back as it was at the checkpoint (files it did not have are removed), after checkpointing
    /// what it holds now; returns that safety checkpoint.
    public func restore(_ id: String) async throws -> Checkpoint {
        let full = try await resolve(id)
        let safety = try await create(label: "before restoring \(full.prefix(12))")
        try await git(["read-tree", "-u", "--reset", full])
        return safety
    }
}
