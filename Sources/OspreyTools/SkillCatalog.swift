public import Foundation
import OspreyCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The skills an agent can use: the operator's (`<home>/skills`, trusted) and the workspace's (`skills/`,
/// untrusted), each gated by its requirements.
public struct SkillCatalog: Sendable {
    public var skills: [Skill]
    /// Folders that hold no valid skill, and why.
    public var failures: [String: String]

    public init(skills: [Skill] = [], failures: [String: String] = [:]) {
        self.skills = skills
        self.failures = failures
    }

    /// Reads `home` skills (trusted) then `workspace` skills (untrusted; a name the home has is the home's).
    ///
    /// Every agent run reads the catalog, so the folders are listed with `readdir` (Foundation's listing took ~40 µs
    /// for an empty or missing folder), and the environment a skill's requirements are checked against (default:
    /// the process's) is read only when there is a skill to check.
    public static func load(
        home: URL?,
        workspace: URL?,
        environment: [String: String]? = nil
    ) -> SkillCatalog {
        var catalog = SkillCatalog()
        lazy var checking = environment ?? ProcessInfo.processInfo.environment
        for (root, trusted) in [(home, true), (workspace, false)] {
            guard let root, let folders = DirectoryNames.of(root.path)?.sorted() else { continue }
            for folder in folders where !folder.hasPrefix(".") {
                let url = root.appendingPathComponent(folder)
                do {
                    // A home skill installed from an unsigned package is no more trusted than a workspace one.
                    let unsigned = FileManager.default.fileExists(
                        atPath: url.appendingPathComponent(unsignedMarker).path
                    )
                    guard var skill = try Skill.read(directory: url, trusted: trusted && !unsigned) else { continue }
                    guard !catalog.skills.contains(where: { $0.name == skill.name }) else { continue }
                    skill.gate(environment: checking, path: checking["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
                    catalog.skills.append(skill)
                } catch {
                    catalog.failures[url.path] = "\(error)"
                }
            }
        }
        return catalog
    }

    public var available: [Skill] { skills.filter { $0.unavailable == nil } }

    /// The file `osprey skills install --allow-unsigned` leaves in a skill's folder: its content is untrusted.
    public static let unsignedMarker = ".unsigned"

    /// What the system prompt says: each available skill's name and description, and how to load one.
    public var promptSection: String? {
        guard !available.isEmpty else { return nil }
        let lines = available.map { "- \($0.name): \($0.description)" }
        return "Skills (load one with load_skill before following it):\n" + lines.joined(separator: "\n")
    }
}

/// What each run's read of the catalog keeps from the last: skill folders parsed and scripts scanned, while their
/// files are unchanged.
extension Skill {
    /// ``init(directory:trusted:)`` for a folder with a `SKILL.md` (nil for one without), kept while its `SKILL.md`
    /// and `workflow.toml` are unchanged (each run reads the catalog): the same stamps, as for
    /// ``scan(_:workflow:)``, and the same trust.
    static func read(directory: URL, trusted: Bool) throws -> Skill? {
        let stamps = ["SKILL.md", Workflow.fileName].map { FileStamp(directory.appendingPathComponent($0).path) }
        guard stamps[0] != nil else { return nil }
        let key = (trusted ? "trusted " : "untrusted ") + directory.path
        if let kept = parsed.value(for: key, stamps: stamps) { return try kept.get() }
        let skill = Result { try Skill(directory: directory, trusted: trusted) }
        parsed.keep(skill, for: key, stamps: stamps)
        return try skill.get()
    }

    /// Each skill folder read in this process, by trust and path: what reading it gave, with its files' stamps.
    static let parsed = StampedValues<[FileStamp?], Result<Skill, any Error>>()

    /// The findings of each script file scanned in this process, by path, with the file's stamp when it was read.
    static let scanned = StampedValues<FileStamp, [String]>()

    /// What identifies a file's content without reading it.
    struct FileStamp: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: timespec
        var changed: timespec

        /// The stamp of the file at `path` (followed if a link), or nil when it cannot be read.
        init?(_ path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = info.st_mtim
            changed = info.st_ctim
        }

        static func == (a: FileStamp, b: FileStamp) -> Bool {
            a.device == b.device && a.inode == b.inode && a.size == b.size
                && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
                && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
        }
    }
}

/// Values made from files, by key, each kept while its files' stamps are the ones it was made from; at most 10,000
/// (then started afresh).
final class StampedValues<Stamps: Equatable & Sendable, Value: Sendable>: Sendable {
    private let values = Mutex<[String: (stamps: Stamps, value: Value)]>([:])

    /// The value kept for `key`, if it was made from files with these `stamps`.
    func value(for key: String, stamps: Stamps) -> Value? {
        values.withLock { values in values[key].flatMap { $0.stamps == stamps ? $0.value : nil } }
    }

    /// Keeps `value`, made from files with `stamps`, for `key`.
    func keep(_ value: Value, for key: String, stamps: Stamps) {
        values.withLock { values in
            if values.count >= 10_000 { values.removeAll() }
            values[key] = (stamps, value)
        }
    }
}
