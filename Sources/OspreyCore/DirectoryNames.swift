#if canImport(Glibc)
import Glibc
#endif

/// The names in a directory, read with `readdir` (Foundation's listing costs tens of microseconds even for an empty
/// or missing folder, and some callers list at every agent run or every resource sample).
public enum DirectoryNames {
    /// The names in the folder at `path`, without `.` and `..`, in the file system's order; nil when it cannot be
    /// listed (missing, not a folder, not readable).
    public static func of(_ path: String) -> [String]? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        return read(directory)
    }

    /// The names an open directory stream gives from where it is to its end, without `.` and `..`. The caller keeps
    /// the stream (and closes it).
    public static func read(_ directory: OpaquePointer) -> [String] {
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
