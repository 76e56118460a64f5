import Foundation
import OspreyCore
import OspreyTesting
import Testing

@testable import OspreyMemory

#if canImport(Glibc)
import Glibc
#endif

struct DirectoryChangesTests {
    /// One `struct inotify_event` as the kernel lays it out (little-endian): wd, mask, cookie, len, the name
    /// NUL-padded to `len`.
    static func event(mask: UInt32, name: String, padded length: Int) -> [UInt8] {
        func word(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        let name = Array(name.utf8) + Array(repeating: 0, count: length - name.utf8.count)
        return word(1) + word(mask) + word(0) + word(UInt32(length)) + name
    }

    @Test func theKernelsEventsNameTheFilesAndAnOverflowSaysSo() {
        let bytes =
            Self.event(mask: UInt32(IN_CLOSE_WRITE), name: "mem_a.md", padded: 16)
            + Self.event(mask: UInt32(IN_MOVED_TO), name: "mem_b.md", padded: 32)
            + Self.event(mask: UInt32(IN_DELETE), name: "mem_a.md", padded: 16)
        let parsed = DirectoryChanges.parse(bytes[...])
        #expect(parsed.names == ["mem_a.md", "mem_b.md"] && !parsed.overflow)
        // A queue overflow carries no name; a cut-off event at the end is not read past the buffer
        let overflow = Self.event(mask: UInt32(IN_Q_OVERFLOW), name: "", padded: 0)
        let cut = Array(Self.event(mask: UInt32(IN_CREATE), name: "mem_c.md", padded: 16).prefix(20))
        let second = DirectoryChanges.parse((overflow + cut)[...])
        #expect(second.names.isEmpty && second.overflow && !second.ended)
        // The directory itself removed: the watch has ended
        let gone = DirectoryChanges.parse(
            (Self.event(mask: UInt32(IN_DELETE_SELF), name: "", padded: 0)
                + Self.event(mask: UInt32(IN_IGNORED), name: "", padded: 0))[...]
        )
        #expect(gone.ended && gone.names.isEmpty)
    }

    @Test func removingTheWatchedDirectoryEndsTheWatch() async throws {
        let parent = try TemporaryDirectory(prefix: "osprey-watch")
        defer { parent.remove() }
        let folder = parent.url.appendingPathComponent("memory")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let changes = try #require(DirectoryChanges(folder.path))
        try FileManager.default.removeItem(at: folder)
        var ended = false
        try await TestRuns.waitUntil {
            try await changes.bell.wait(atMost: .milliseconds(200)) { try await Task.sleep(for: $0) }
            ended = ended || changes.take().ended
            return ended
        }
    }

    @Test func aWatchedDirectorySaysWhichFilesChanged() async throws {
        let directory = try TemporaryDirectory(prefix: "osprey-watch")
        defer { directory.remove() }
        let changes = try #require(DirectoryChanges(directory.path))
        try directory.url.writeFile("mem_one.md", "one")
        try directory.url.writeFile("mem_two.md", "two")
        try FileManager.default.removeItem(at: directory.url.appendingPathComponent("mem_one.md"))
        var seen: Set<String> = []
        try await TestRuns.waitUntil {
            try await changes.bell.wait(atMost: .milliseconds(200)) { try await Task.sleep(for: $0) }
            seen.formUnion(changes.take().names)
            return seen.isSuperset(of: ["mem_one.md", "mem_two.md"])
        }
        #expect(DirectoryChanges("/nonexistent/osprey-watch") == nil)
    }
}
