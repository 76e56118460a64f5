#if canImport(Glibc)
import Glibc
#endif

/// A file whose room is taken on the disk when it is made, so that it can be written later in place when the disk
/// has no room left: what must outlive the process when nothing else can be written (the cost of model calls made
/// while the disk was full, kept over a stop).
///
/// Its first 16 bytes say what it holds (`OSPRRSV1`, then the length, little-endian); the bytes follow. A write puts
/// the bytes down and syncs them before the header that names them, so a crash leaves the old contents or the new.
public struct ReservedFile: Sendable {
    public let path: String
    /// The bytes it can hold, past its header.
    public let capacity: Int

    static let magic = Array("OSPRRSV1".utf8)
    static let header = 16

    /// Opens `path`, making it (mode 0600) with `capacity` bytes allocated on the disk if it is missing or smaller.
    public static func open(_ path: String, capacity: Int) throws -> ReservedFile {
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw FileWriteError("cannot open \(path): \(lastError())") }
        defer { close(descriptor) }
        let size = off_t(header + capacity)
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw FileWriteError("cannot read \(path): \(lastError())") }
        if status.st_size < size || status.st_blocks * 512 < Int(size) {
            // The room is taken now (the file's blocks allocated), not at the first write.
            let failed = posix_fallocate(descriptor, 0, size)
            guard failed == 0 else {
                throw FileWriteError("cannot reserve \(size) bytes for \(path): \(String(cString: strerror(failed)))")
            }
            guard fsync(descriptor) == 0 else { throw FileWriteError("cannot sync \(path): \(lastError())") }
        }
        return ReservedFile(path: path, capacity: capacity)
    }

    /// The bytes it holds; nil when it holds none.
    public func load() throws -> [UInt8]? {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { throw FileWriteError("cannot open \(path): \(lastError())") }
        defer { close(descriptor) }
        var head = [UInt8](repeating: 0, count: Self.header)
        guard pread(descriptor, &head, Self.header, 0) == Self.header, Array(head[0..<8]) == Self.magic else {
            return nil
        }
        let length = head[8..<16].reversed().reduce(0) { $0 << 8 | Int($1) }
        guard length > 0 else { return nil }
        guard length <= capacity else { throw FileWriteError("\(path) says it holds \(length) bytes: damaged") }
        var bytes = [UInt8](repeating: 0, count: length)
        guard pread(descriptor, &bytes, length, off_t(Self.header)) == length else {
            throw FileWriteError("\(path) is shorter than it says: damaged")
        }
        return bytes
    }

    /// Writes `bytes` in place (at most ``capacity``) and syncs; nothing is allocated, so a full disk takes it.
    public func store(_ bytes: [UInt8]) throws {
        guard bytes.count <= capacity else {
            throw FileWriteError("\(bytes.count) bytes do not fit \(path) (\(capacity))")
        }
        let descriptor = Glibc.open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { throw FileWriteError("cannot open \(path): \(lastError())") }
        defer { close(descriptor) }
        try write(bytes, at: Self.header, to: descriptor)
        var length = UInt64(bytes.count).littleEndian
        let encoded = withUnsafeBytes(of: &length) { Array($0) }
        try write(Self.magic + encoded, at: 0, to: descriptor)
    }

    /// Empties it, in place.
    public func clear() throws {
        let descriptor = Glibc.open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { throw FileWriteError("cannot open \(path): \(lastError())") }
        defer { close(descriptor) }
        try write(Self.magic + [UInt8](repeating: 0, count: 8), at: 0, to: descriptor)
    }

    private func write(_ bytes: [UInt8], at offset: Int, to descriptor: Int32) throws {
        var done = 0
        while done < bytes.count {
            let written = bytes[done...].withUnsafeBytes {
                pwrite(descriptor, $0.baseAddress, $0.count, off_t(offset + done))
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw FileWriteError("cannot write \(path): \(lastError())") }
            done += written
        }
        guard fdatasync(descriptor) == 0 else { throw FileWriteError("cannot sync \(path): \(lastError())") }
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }
    private func lastError() -> String { Self.lastError() }
}
