import COspreySystem
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Gives back the code pages the start-up touched once the gateway serves.
///
/// Starting touches code all over the binary and its libraries (argument parsing, configuration, migrations, every
/// service's set-up), and the kernel maps 64 KiB around each page touched: an idle gateway kept ~30 MB of code
/// resident that it never runs again. Dropping the mappings of code (read-only, never written, so nothing is lost) lets
/// the pages the gateway does run come back on first use, from the page cache, at a minor fault each. The daemon
/// releases once shortly after it serves (``serving``) and once more after ``settling``.
enum StartupPages {
    /// What one release gave back.
    struct Released: Equatable {
        var mappings = 0
        var kilobytes = 0
        /// Whether the allocator gave free heap pages back too (`malloc_trim`).
        var heapTrimmed = false
    }

    /// How long after the gateway serves the first release waits: a client that started it asks at once (a
    /// supervisor's health check, a script waiting for `/health`), and dropping the code that answer runs, while it
    /// runs, would have it fault the pages straight back and share the CPU with the scan of `smaps`.
    static let serving = Duration.milliseconds(500)

    /// How long after the gateway serves its services' own start-up (the first ticks, the local model's launch) is
    /// over, when a second release drops what they touched.
    static let settling = Duration.seconds(10)

    /// Drops this process's resident pages of read-only file mappings (`r-xp`, `r--p`, nothing in them written) and says how
    /// much was resident in them, then has the allocator give back the heap pages the start-up freed. Reads
    /// `/proc/self/smaps`; a process without it (not Linux) releases nothing.
    @discardableResult
    static func release(smaps path: String = "/proc/self/smaps") -> Released {
        // A file of /proc has no size to read up to: it is read until it ends.
        guard let handle = FileHandle(forReadingAtPath: path) else { return Released() }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return Released() }
        let text = String(decoding: data, as: UTF8.self)
        var released = Released()
        for mapping in mappings(text) where mapping.releasable {
            #if canImport(Glibc)
            guard let start = UnsafeMutableRawPointer(bitPattern: mapping.start),
                madvise(start, Int(mapping.end - mapping.start), MADV_DONTNEED) == 0
            else { continue }
            released.mappings += 1
            released.kilobytes += mapping.residentKB
            #endif
        }
        #if canImport(Glibc)
        released.heapTrimmed = osprey_malloc_trim() == 1
        #endif
        return released
    }

    /// One mapping of `/proc/PID/smaps`, with what decides whether its pages can be dropped.
    struct Mapping: Equatable {
        var start: UInt
        var end: UInt
        var permissions: Substring
        var path: Substring
        var residentKB = 0
        var privateDirtyKB = 0
        var anonymousKB = 0

        /// Code or constant data from a file (`r-xp`, `r--p`: the binary's and the libraries' read-only segments),
        /// of which no page was ever written: dropping it loses nothing. A segment written before it was made
        /// read-only (relocations: RELRO) has anonymous pages and stays.
        var releasable: Bool {
            (permissions == "r-xp" || permissions == "r--p") && path.hasPrefix("/") && privateDirtyKB == 0
                && anonymousKB == 0 && residentKB > 0
        }
    }

    /// The mappings `smaps` lists, in order.
    static func mappings(_ smaps: String) -> [Mapping] {
        var mappings: [Mapping] = []
        for line in smaps.split(separator: "\n") {
            // A mapping's ~25 key lines start with a capital letter; only three of them are split into fields.
            if let head = line.utf8.first, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(head) {
                let key: WritableKeyPath<Mapping, Int>
                if line.hasPrefix("Rss:") {
                    key = \.residentKB
                } else if line.hasPrefix("Private_Dirty:") {
                    key = \.privateDirtyKB
                } else if line.hasPrefix("Anonymous:") {
                    key = \.anonymousKB
                } else {
                    continue
                }
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard mappings.indices.last != nil, fields.count >= 2, let value = Int(fields[1]) else { continue }
                mappings[mappings.count - 1][keyPath: key] = value
                continue
            }
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            let range = first.split(separator: "-")
            guard range.count == 2, fields.count >= 5, let start = UInt(range[0], radix: 16),
                let end = UInt(range[1], radix: 16)
            else { continue }
            let path = fields.count >= 6 ? line[fields[5].startIndex...] : ""
            mappings.append(Mapping(start: start, end: end, permissions: fields[1], path: path))
        }
        return mappings
    }
}
