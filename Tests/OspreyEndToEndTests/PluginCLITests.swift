import Foundation
import OspreyCore
import OspreyTesting
import Testing

/// `osprey plugins` as an author and a user run it: keygen, sign, install a signed package, refuse a tampered one.
struct PluginCLITests {
    @Test(.timeLimit(.minutes(2))) func aSignedPackageInstallsAndATamperedOneIsRefusedWithNothingWritten()
        async throws
    {
        let osprey = try OspreyExecutable.locate()
        let work = try TemporaryDirectory(prefix: "osprey-plugin-cli")
        defer { work.remove() }
        let home = work.url.appendingPathComponent("home")
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/plugins")
        let folder = try await WasmToolchain.buildFixture("wordcount", from: fixtures, into: work.url)
        // The author makes a key and signs the plugin.
        let key = work.url.appendingPathComponent("author.key").path
        let keygen = try await osprey.run(["plugins", "keygen", "--out", key])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let publicKey = try #require(
            keygen.stdout.split(separator: "\n").first { $0.hasPrefix("public key:") }?.split(separator: " ").last
        )
        let package = work.url.appendingPathComponent("wordcount.ospkg").path
        let sign = try await osprey.run(["plugins", "sign", folder.path, "--key", key, "--out", package])
        #expect(sign.status == 0, "\(sign.stderr)")
        // A user who does not trust the author yet is refused; one who does installs it.
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let refused = try await osprey.run(["plugins", "install", package, "--home", home.path])
        #expect(refused.status != 0 && refused.stderr.contains("not from a trusted publisher"), "\(refused.stderr)")
        try "[plugins]\npublishers = [\"\(publicKey)\"]\ntrusted = [\"wordcount\"]\n".write(
            to: home.appendingPathComponent("config.toml"),
            atomically: true,
            encoding: .utf8
        )
        let installed = try await osprey.run(["plugins", "install", package, "--home", home.path])
        #expect(installed.status == 0 && installed.stdout.contains("signed by"), "\(installed.stderr)")
        let list = try await osprey.run(["plugins", "list", "--home", home.path])
        #expect(list.stdout.contains("wordcount 1.0.0  ok") && list.stdout.contains("wordcount__count"))
        // Installed again: only with --force, which replaces it in one step and leaves nothing beside it.
        let again = try await osprey.run(["plugins", "install", package, "--home", home.path])
        #expect(again.status != 0 && again.stderr.contains("use --force"), "\(again.stderr)")
        let forced = try await osprey.run(["plugins", "install", package, "--force", "--home", home.path])
        #expect(forced.status == 0, "\(forced.stderr)")
        let installedNow = try FileManager.default.contentsOfDirectory(
            atPath: home.appendingPathComponent("plugins").path
        )
        #expect(installedNow == ["wordcount"], "\(installedNow)")
        #expect(try await osprey.run(["plugins", "list", "--home", home.path]).stdout.contains("wordcount 1.0.0  ok"))
        // A package changed after signing is refused, and nothing of it is written.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: package)))
        bytes[600] ^= 0x01
        let tampered = work.url.appendingPathComponent("tampered.ospkg")
        try Data(bytes).write(to: tampered)
        let removed = try await osprey.run(["plugins", "remove", "wordcount", "--home", home.path])
        #expect(removed.status == 0)
        let rejected = try await osprey.run(["plugins", "install", tampered.path, "--home", home.path])
        #expect(rejected.status != 0 && rejected.stderr.contains("package refused"), "\(rejected.stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: home.appendingPathComponent("plugins").path)
        #expect(left.isEmpty, "\(left)")
        // A folder installs only when the user says it may run unsigned.
        let folderInstall = try await osprey.run(["plugins", "install", folder.path, "--home", home.path])
        #expect(folderInstall.status != 0 && folderInstall.stderr.contains("--allow-unsigned"))
    }
}
