import Dispatch
import OspreyCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The files of one directory that were written, created, moved or removed since the last look (Linux inotify),
/// with a bell rung at each change: a loop keeping an index in step with the files waits for edits and looks at
/// those files only, instead of reading the whole directory on a timer.
///
/// Nil when inotify cannot watch the directory (no such directory, the watch limit reached): the caller scans on a
/// timer instead.
///
/// `@unchecked Sendable`: its one non-`Sendable` part is the dispatch source, which is set once in `init` and only
/// cancelled after (a dispatch source is safe to cancel from any thread).
final class DirectoryChanges: @unchecked Sendable {
    let bell = Doorbell()
    /// Names changed since the last ``take()``; `everything` when the kernel's queue overflowed (events were lost);
    /// `ended` when the directory itself was removed or moved (the watch is gone: make a new one).
    private let pending: Mutex<(names: Set<String>, everything: Bool, ended: Bool)>
    private let descriptor: Int32
    private let source: any DispatchSourceRead

    init?(_ path: String) {
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { return nil }
        let mask = UInt32(
            IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF
                | IN_MOVE_SELF
        )
        guard inotify_add_watch(descriptor, path, mask) >= 0 else {
            close(descriptor)
            return nil
        }
        pending = Mutex(([], false, false))
        source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: .global(qos: .utility))
        source.setEventHandler { [weak self] in self?.drain() }
        source.setCancelHandler { [descriptor] in close(descriptor) }
        source.resume()
    }

    deinit { source.cancel() }

    /// The changes since the last call, cleared.
    func take() -> (names: Set<String>, everything: Bool, ended: Bool) {
        pending.withLock { state in
            defer { state = ([], false, false) }
            return state
        }
    }

    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var names: Set<String> = []
        var overflow = false
        var ended = false
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            let batch = Self.parse(buffer[..<count])
            names.formUnion(batch.names)
            overflow = overflow || batch.overflow
            ended = ended || batch.ended
        }
        pending.withLock {
            $0.names.formUnion(names)
            $0.everything = $0.everything || overflow
            $0.ended = $0.ended || ended
        }
        bell.ring()
    }

    /// The file names in a buffer of `struct inotify_event`s (a 16-byte header: wd, mask, cookie, len; then `len`
    /// bytes of NUL-padded name), whether one of them says the queue overflowed, and whether one says the watch
    /// ended (the directory was removed or moved away).
    static func parse(_ bytes: ArraySlice<UInt8>) -> (names: Set<String>, overflow: Bool, ended: Bool) {
        var names: Set<String> = []
        var overflow = false
        var ended = false
        var offset = bytes.startIndex
        func word(_ at: Int) -> UInt32 {
            bytes[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        while offset + 16 <= bytes.endIndex {
            let mask = word(offset + 4)
            let length = Int(word(offset + 12))
            guard offset + 16 + length <= bytes.endIndex else { break }
            if mask & UInt32(IN_Q_OVERFLOW) != 0 { overflow = true }
            if mask & UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF) != 0 { ended = true }
            let name = bytes[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }
            if !name.isEmpty { names.insert(String(decoding: name, as: UTF8.self)) }
            offset += 16 + length
        }
        return (names, overflow, ended)
    }
}
