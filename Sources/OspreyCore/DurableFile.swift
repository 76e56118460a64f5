#if canImport(Glibc)
public import Glibc
#endif

/// A file that could not be written whole and durably: the disk is full, a limit is reached, the directory refuses.
public struct FileWriteError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Files written so that a failed write, a crash or a power cut at any point leaves no file or the old one, or the
/// whole new one: never part of it, and never a name whose contents are not yet on the disk.
///
/// The bytes are written and synced as an unnamed file in the target's directory (`O_TMPFILE`) before any name points
/// at them, then named, and the directory synced so the name lasts too. Where the filesystem has no unnamed files, they
/// are written under a temporary name beside the target instead, removed if the write fails.
public enum DurableFile {
    /// Creates `path` with `bytes` and `mode` (exactly: the umask does not narrow it); keeps a file that exists, also
    /// one another process makes meanwhile. Returns whether this call made it. `bytes` are made only when the file is
    /// not there (a new key is not drawn for a file that exists).
    @discardableResult
    public static func create(_ path: String, bytes: @autoclosure () -> [UInt8], mode: mode_t) throws -> Bool {
        if access(path, F_OK) == 0 { return false }
        guard try name(bytes(), mode: mode, at: path, for: path, failing: "create") else { return false }
        try syncDirectory(directory(of: path))
        return true
    }

    /// Writes `bytes` to `path`, replacing what is there (a symbolic link there is replaced, not followed): a reader,
    /// and the disk after a crash, has the old contents or the new ones whole. The file gets `mode` exactly; with
    /// none, the mode of the file it replaces, or for a new one what the umask leaves of 0o666 (as an editor's save).
    public static func replace(_ path: String, bytes: [UInt8], mode: mode_t? = nil) throws {
        var existing = stat()
        let kept = lstat(path, &existing) == 0 && existing.st_mode & S_IFMT == S_IFREG ? existing.st_mode & 0o7777 : nil
        let temporary = "\(path).osprey-\(getpid())-\(UInt32.random(in: .min ... .max))"
        // Named only once whole and synced; the rename moves the name over the old file in one step.
        guard try name(bytes, mode: mode ?? kept, at: temporary, for: path, failing: "write") else {
            throw FileWriteError("cannot write \(path): \(temporary) exists")
        }
        guard rename(temporary, path) == 0 else {
            let reason = lastError()
            unlink(temporary)
            throw FileWriteError("cannot replace \(path): \(reason)")
        }
        try syncDirectory(directory(of: path))
    }

    /// Writes `bytes` whole and synced, then gives them the new name `name` (in `target`'s folder): as an unnamed file
    /// (`O_TMPFILE`) linked once synced, or, where the filesystem has none, under `name` itself from the start (made
    /// by this call alone, removed if the write fails). False when `name` exists; errors speak of `target`.
    private static func name(
        _ bytes: [UInt8],
        mode: mode_t?,
        at name: String,
        for target: String,
        failing verb: String
    ) throws -> Bool {
        let unnamed = open(directory(of: name), unnamedFile | O_WRONLY | O_CLOEXEC, mode ?? 0o666)
        if unnamed >= 0 {
            defer { close(unnamed) }
            try writeWholeAndSync(bytes, to: unnamed, path: target, mode: mode)
            guard linkat(AT_FDCWD, "/proc/self/fd/\(unnamed)", AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0 else {
                if errno == EEXIST { return false }
                throw FileWriteError("cannot \(verb) \(target): \(lastError())")
            }
            return true
        }
        let descriptor = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode ?? 0o666)
        guard descriptor >= 0 else {
            if errno == EEXIST { return false }
            throw FileWriteError("cannot \(verb) \(target): \(lastError())")
        }
        defer { close(descriptor) }
        do { try writeWholeAndSync(bytes, to: descriptor, path: target, mode: mode) } catch {
            unlink(name)
            throw error
        }
        return true
    }

    /// Writes `bytes` to `path` (created, or truncated if it is a file; a symbolic link there is refused) with `mode`
    /// from its first byte, and syncs it, with no rename: for a set of files that are complete only once a last one
    /// names them (a backup's files, then its manifest); their directories are synced with ``syncDirectory(_:)``.
    public static func writeSynced(_ path: String, bytes: [UInt8], mode: mode_t) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
        guard descriptor >= 0 else { throw FileWriteError("cannot write \(path): \(lastError())") }
        defer { close(descriptor) }
        try writeWholeAndSync(bytes, to: descriptor, path: path, mode: mode)
    }

    /// Syncs a directory: the names made, renamed or removed in it last from then on.
    public static func syncDirectory(_ directory: String) throws {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileWriteError("cannot sync \(directory): \(lastError())") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw FileWriteError("cannot sync \(directory): \(lastError())") }
    }

    /// `O_TMPFILE` (Glibc does not import the macro): an unnamed file in the directory opened.
    static let unnamedFile: Int32 = 0o20_000_000 | O_DIRECTORY

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Writes all of `bytes`, sets `mode` exactly when given (the umask narrowed the one `open` was given), and syncs.
    private static func writeWholeAndSync(_ bytes: [UInt8], to descriptor: Int32, path: String, mode: mode_t?) throws {
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                throw FileWriteError("cannot write \(path): \(lastError())")
            }
            written += result
        }
        if let mode, fchmod(descriptor, mode) != 0 { throw FileWriteError("cannot write \(path): \(lastError())") }
        guard fsync(descriptor) == 0 else { throw FileWriteError("cannot sync \(path): \(lastError())") }
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}
