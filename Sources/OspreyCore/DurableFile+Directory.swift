import COspreySystem
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension DurableFile {
    /// Puts the folder `staged` (beside `target`, on the same filesystem) in `target`'s place in one step: a reader, and
    /// the disk after a crash, finds the old folder whole or the new one whole, never neither and never a mix. Every
    /// file and folder of `staged` is synced first; after the swap the old folder is at `staged`'s name, and is
    /// removed (what cannot be removed of it is left there, hidden, for the caller's clean-up). Where the filesystem
    /// cannot swap two names, the old folder is moved aside first and there is a moment with no `target`.
    public static func replaceDirectory(_ target: String, with staged: String) throws {
        try syncTree(staged)
        var existing = stat()
        if lstat(target, &existing) != 0 {
            guard rename(staged, target) == 0 else { throw FileWriteError("cannot install \(target): \(lastError())") }
        } else if osprey_exchange_paths(staged, target) != 0 {
            guard errno == EINVAL || errno == ENOSYS else {
                throw FileWriteError("cannot replace \(target): \(lastError())")
            }
            let aside = "\(staged).old"
            guard rename(target, aside) == 0 else { throw FileWriteError("cannot replace \(target): \(lastError())") }
            guard rename(staged, target) == 0 else {
                let reason = lastError()
                rename(aside, target)
                throw FileWriteError("cannot replace \(target): \(reason)")
            }
            rename(aside, staged)
        }
        try syncDirectory(directory(of: target))
        try? FileManager.default.removeItem(atPath: staged)  // the old folder: gone or left hidden, said above
    }

    /// Syncs every file and folder below `root`, and `root` itself.
    static func syncTree(_ root: String) throws {
        var paths = (FileManager.default.subpaths(atPath: root) ?? []).map { "\(root)/\($0)" }
        paths.append(root)
        for path in paths {
            let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            if descriptor < 0, errno == ELOOP { continue }  // a symbolic link: nothing of its own to sync
            guard descriptor >= 0 else { throw FileWriteError("cannot sync \(path): \(lastError())") }
            defer { close(descriptor) }
            guard fsync(descriptor) == 0 else { throw FileWriteError("cannot sync \(path): \(lastError())") }
        }
    }
}
