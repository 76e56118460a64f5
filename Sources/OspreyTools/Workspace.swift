import COspreySystem
public import Foundation
import OspreyCore

#if canImport(Glibc)
import Glibc
#endif

/// Why a file operation in the workspace was refused or failed; shown to the model as the tool's error.
public struct WorkspaceError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A directory the agent's file tools are confined to.
///
/// Every path is opened with openat2(RESOLVE_BENEATH) relative to a descriptor of the root, so `..`,
/// absolute paths, `/proc/self/root` and symlinks that lead out are refused by the kernel itself, also
/// when a directory is swapped for a symlink between a check and the use.
public final class Workspace: Sendable {
    public let root: URL
    let rootDescriptor: Int32

    public init(root: URL) throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        self.root = root.standardizedFileURL
        let descriptor = Glibc.open(root.path, osprey_o_path() | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw WorkspaceError("cannot open workspace \(root.path): \(Self.reason(errno))") }
        rootDescriptor = descriptor
    }

    deinit { close(rootDescriptor) }

    static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Runs blocking file work on a Dispatch thread, never on the cooperative pool, whose few threads must stay
    /// free for the gateway's requests (`/health`) even when a file is slow.
    public static func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Regular files under `root` whose contents changed at or after `since`, as absolute paths (symbolic links are
    /// not followed; at most `limit` entries are looked at). Blocking: call it through ``offload(_:)``.
    public static func files(under root: URL, modifiedSince since: Date, limit: Int = 20_000) -> [String] {
        let keys: [URLResourceKey] = [.isRegularFileKey, .contentModificationDateKey]
        guard
            let walker = FileManager.default.enumerator(
                at: root,
                includingPropertiesForKeys: keys,
                options: [],
                errorHandler: { _, _ in true }
            )
        else { return [] }
        var changed: [String] = []
        var seen = 0
        for case let url as URL in walker {
            seen += 1
            if seen > limit { break }
            guard let values = try? url.resourceValues(forKeys: Set(keys)), values.isRegularFile == true,
                let modified = values.contentModificationDate, modified >= since
            else { continue }
            changed.append(url.standardizedFileURL.path)
        }
        return changed
    }

    /// The path relative to the root, with a leading "/" or "./" removed; "" and "." mean the root.
    static func relative(_ path: String) -> String {
        var trimmed = path
        while trimmed.hasPrefix("./") { trimmed.removeFirst(2) }
        return trimmed.isEmpty ? "." : trimmed
    }

    /// Opens `path` beneath the root; a path that leads out of the workspace is refused with a clear message.
    func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        guard !path.contains("\0") else { throw WorkspaceError("path contains a NUL byte") }
        let descriptor = osprey_open_beneath(rootDescriptor, Self.relative(path), flags, mode)
        if descriptor >= 0 { return descriptor }
        switch -descriptor {
        case EXDEV, ELOOP: throw WorkspaceError("'\(path)' is outside the workspace")
        case ENOENT: throw WorkspaceError("'\(path)' does not exist")
        case EISDIR: throw WorkspaceError("'\(path)' is a directory")
        case ENOTDIR: throw WorkspaceError("a component of '\(path)' is not a directory")
        case EACCES, EPERM: throw WorkspaceError("permission denied for '\(path)'")
        case ENXIO:
            throw WorkspaceError(
                "'\(path)' is not a regular file (a FIFO or socket); file tools only handle regular files"
            )
        default: throw WorkspaceError("cannot open '\(path)': \(Self.reason(-descriptor))")
        }
    }

    /// Opens `path` for `flags` only if it is a regular file with no other name: never waits on a FIFO, a socket
    /// or a device, and never follows a hard link to a file that may lie outside the workspace.
    ///
    /// The open is non-blocking (a FIFO without a peer would otherwise wait for ever) and never truncates; the
    /// checks run on the opened descriptor, so nothing can be swapped in between.
    func openRegularFile(_ path: String, flags: Int32) throws -> Int32 {
        let descriptor = try open(path, flags: flags | O_NOFOLLOW | O_NONBLOCK)
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw WorkspaceError("cannot inspect '\(path)': \(Self.reason(code))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(descriptor)
            throw WorkspaceError(
                "'\(path)' is not a regular file (a FIFO, socket or device); file tools only handle regular files"
            )
        }
        guard info.st_nlink <= 1 else {
            Glibc.close(descriptor)
            throw WorkspaceError(
                "'\(path)' is a hard link (\(info.st_nlink) names): it may be a file outside the workspace, so file tools refuse it; use a copy"
            )
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        return descriptor
    }

    /// Reads a regular file, at most `limit` bytes; says so when it was longer.
    public func read(_ path: String, limit: Int) throws -> (data: Data, truncated: Bool) {
        let descriptor = try openRegularFile(path, flags: O_RDONLY)
        defer { Glibc.close(descriptor) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while data.count <= limit {
            let count = Glibc.read(descriptor, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw WorkspaceError("cannot read '\(path)': \(Self.reason(errno))")
            }
            if count == 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        let truncated = data.count > limit
        return (truncated ? data.prefix(limit) : data, truncated)
    }

    /// Writes a file (replacing it), creating missing parent directories beneath the root.
    public func write(_ path: String, data: Data) throws {
        let relative = Self.relative(path)
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.isEmpty, relative != "." else { throw WorkspaceError("a file path is required") }
        if parts.count > 1 {
            var prefix = ""
            for part in parts.dropLast() {
                prefix += (prefix.isEmpty ? "" : "/") + part
                if let existing = try? open(prefix, flags: osprey_o_path() | O_DIRECTORY) {
                    Glibc.close(existing)
                    continue
                }
                let parent = prefix.contains("/") ? String(prefix[..<prefix.lastIndex(of: "/")!]) : "."
                let parentDescriptor = try open(parent, flags: osprey_o_path() | O_DIRECTORY)
                defer { Glibc.close(parentDescriptor) }
                if mkdirat(parentDescriptor, String(part), 0o755) != 0 && errno != EEXIST {
                    throw WorkspaceError("cannot create directory '\(prefix)': \(Self.reason(errno))")
                }
            }
        }
        // Truncated only after the checks: O_TRUNC would empty a hard-linked file before it could be refused.
        let descriptor = try openRegularFile(relative, flags: O_WRONLY | O_CREAT)
        defer { Glibc.close(descriptor) }
        guard ftruncate(descriptor, 0) == 0 else {
            throw WorkspaceError("cannot write '\(path)': \(Self.reason(errno))")
        }
        var written = 0
        let bytes = [UInt8](data)
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw WorkspaceError("cannot write '\(path)': \(Self.reason(errno))")
            }
            written += count
        }
    }

    /// One directory entry.
    public struct Entry: Hashable, Sendable {
        public var name: String
        public var isDirectory: Bool
        public var isSymlink: Bool
        public var size: Int
    }

    /// The entries of a directory, sorted by name; symlinks are listed, never followed.
    public func list(_ path: String) throws -> [Entry] {
        let descriptor = try open(path, flags: O_RDONLY | O_DIRECTORY)
        guard let directory = fdopendir(descriptor) else {
            Glibc.close(descriptor)
            throw WorkspaceError("cannot list '\(path)': \(Self.reason(errno))")
        }
        defer { closedir(directory) }
        var entries: [Entry] = []
        for name in DirectoryNames.read(directory) {
            var info = stat()
            guard fstatat(descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let kind = info.st_mode & S_IFMT
            entries.append(
                Entry(name: name, isDirectory: kind == S_IFDIR, isSymlink: kind == S_IFLNK, size: Int(info.st_size))
            )
        }
        return entries.sorted { $0.name < $1.name }
    }

    /// Every regular file beneath `path` (relative to the root), depth-first, not following symlinks, at most `limit`.
    public func files(under path: String, limit: Int) throws -> [String] {
        var found: [String] = []
        var pending = [Self.relative(path)]
        while let directory = pending.popLast(), found.count < limit {
            for entry in try list(directory).reversed() where !entry.isSymlink {
                let child = directory == "." ? entry.name : "\(directory)/\(entry.name)"
                if entry.isDirectory {
                    if entry.name != ".git" { pending.append(child) }
                } else {
                    found.append(child)
                    if found.count >= limit { break }
                }
            }
        }
        return found.sorted()
    }
}
