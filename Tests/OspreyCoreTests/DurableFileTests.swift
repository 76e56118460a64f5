import Foundation
import OspreyCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Files written whole and synced before a name points at them (``DurableFile``); what a crash between the steps
/// leaves is tested with the real `osprey` in `CLITests`.
struct DurableFileTests {
    let folder: String

    init() throws {
        folder = NSTemporaryDirectory() + "osprey-durable-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
    }

    func contents(_ name: String) throws -> String {
        try String(contentsOfFile: "\(folder)/\(name)", encoding: .utf8)
    }

    func mode(_ name: String) -> mode_t {
        var info = stat()
        lstat("\(folder)/\(name)", &info)
        return info.st_mode & 0o7777
    }

    func entries() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: folder).sorted() }

    @Test func aReplacedFileHasTheNewBytesAndModeAndNothingIsLeftBesideIt() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/plan.json"
        try DurableFile.replace(path, bytes: Array("first".utf8), mode: 0o640)
        #expect(try contents("plan.json") == "first")
        #expect(mode("plan.json") == 0o640)
        // A larger text, then a shorter one: each is the whole file, with nothing of the one before
        try DurableFile.replace(path, bytes: Array(String(repeating: "x", count: 200_000).utf8), mode: 0o600)
        #expect(try contents("plan.json").count == 200_000)
        try DurableFile.replace(path, bytes: Array("third".utf8), mode: 0o755)
        #expect(try contents("plan.json") == "third")
        #expect(mode("plan.json") == 0o755, "the umask does not narrow the mode asked for")
        #expect(try entries() == ["plan.json"])
    }

    @Test func aReplaceWithoutAModeKeepsTheFilesOwnAndANewFileGetsWhatTheUmaskLeaves() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // A note a user made private by hand stays private when it is written again
        let note = "\(folder)/note.md"
        try DurableFile.replace(note, bytes: Array("old".utf8), mode: 0o600)
        try DurableFile.replace(note, bytes: Array("new".utf8))
        #expect(mode("note.md") == 0o600)
        #expect(try contents("note.md") == "new")
        // A new file gets what an editor's save would
        let mask = umask(0o022)
        defer { umask(mask) }
        try DurableFile.replace("\(folder)/fresh.md", bytes: Array("hi".utf8))
        #expect(mode("fresh.md") == 0o644)
    }

    @Test func aSymbolicLinkIsReplacedNotFollowed() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try DurableFile.replace("\(folder)/target", bytes: Array("kept".utf8), mode: 0o600)
        #expect(symlink("\(folder)/target", "\(folder)/link") == 0)
        try DurableFile.replace("\(folder)/link", bytes: Array("written".utf8), mode: 0o600)
        #expect(try contents("target") == "kept")
        #expect(try contents("link") == "written")
        var info = stat()
        lstat("\(folder)/link", &info)
        #expect(info.st_mode & S_IFMT == S_IFREG, "a file now, no longer a link")
    }

    @Test func aWriteWhereNoFileCanBeMadeFailsSayingWhereAndWhy() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect {
            try DurableFile.replace("\(folder)/missing/plan.json", bytes: Array("x".utf8), mode: 0o600)
        } throws: { error in
            "\(error)" == "cannot write \(folder)/missing/plan.json: No such file or directory"
        }
        #expect {
            try DurableFile.create("\(folder)/missing/key", bytes: Array("x".utf8), mode: 0o600)
        } throws: { error in
            "\(error)" == "cannot create \(folder)/missing/key: No such file or directory"
        }
        #expect(try entries().isEmpty)
    }

    @Test func aCreateKeepsAFileThatIsThereAndSaysWhetherItMadeOne() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let key = "\(folder)/ledger.key"
        #expect(try DurableFile.create(key, bytes: Array("one".utf8), mode: 0o600))
        #expect(try !DurableFile.create(key, bytes: Array("two".utf8), mode: 0o600))
        #expect(try contents("ledger.key") == "one")
        #expect(mode("ledger.key") == 0o600)
        #expect(try entries() == ["ledger.key"])
    }

    @Test func aFolderTakesAnothersPlaceWholeAndTheOldOneIsGone() throws {
        func folder(_ name: String, _ files: [String: String]) throws -> String {
            let path = "\(self.folder)/\(name)"
            for (file, text) in files {
                let url = URL(fileURLWithPath: "\(path)/\(file)")
                try FileManager.default.createDirectory(
                    at: url.deletingLastPathComponent(),
                    withIntermediateDirectories: true
                )
                try text.write(to: url, atomically: false, encoding: .utf8)
            }
            return path
        }
        let target = "\(self.folder)/skill"
        // Nothing there: the staged folder is moved in.
        try DurableFile.replaceDirectory(
            target,
            with: try folder(".staged-1", ["SKILL.md": "one", "scripts/a.sh": "a"])
        )
        #expect(try contents("skill/SKILL.md") == "one" && contents("skill/scripts/a.sh") == "a")
        // A folder there: swapped for the new one, whose files alone are there, and the old one removed.
        try DurableFile.replaceDirectory(target, with: try folder(".staged-2", ["SKILL.md": "two", "b.txt": "b"]))
        #expect(try contents("skill/SKILL.md") == "two" && contents("skill/b.txt") == "b")
        #expect(!FileManager.default.fileExists(atPath: "\(target)/scripts"))
        #expect(try entries() == ["skill"])
        // A staged folder that is not there: an error naming the target, and the installed folder untouched.
        #expect {
            try DurableFile.replaceDirectory(target, with: "\(self.folder)/.missing")
        } throws: { "\($0)".contains("\(self.folder)/.missing") }
        #expect(try contents("skill/SKILL.md") == "two")
    }
}
