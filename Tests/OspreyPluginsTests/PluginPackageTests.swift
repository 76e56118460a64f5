import Foundation
import OspreyCore
import Testing

@testable import OspreyPlugins

/// Signed plugin packages: verified whole before anything is written.
struct PluginPackageTests {
    static let files: [String: [UInt8]] = [
        "plugin.toml": Array("name = \"demo\"\n".utf8), "demo.wasm": [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ]

    @Test func aSignedPackageVerifiesAgainstItsPublisherAndNoOther() throws {
        let (privateKey, publicKey) = PluginPackage.keyPair()
        let package = try PluginPackage.pack(Self.files, privateKey: privateKey)
        let verified = try PluginPackage.verify(package, publishers: [publicKey], allowUnsigned: false)
        #expect(verified.publisher == publicKey && verified.files == Self.files)
        let stranger = PluginPackage.keyPair().publicKey
        #expect(
            throws: PluginError.package(
                "the package's signature is not from a trusted publisher ([plugins] publishers)"
            )
        ) {
            try PluginPackage.verify(package, publishers: [stranger], allowUnsigned: true)
        }
    }

    @Test func aTamperedFileAnUnsignedPackageAndAMissingOrExtraFileAreRefused() throws {
        let (privateKey, publicKey) = PluginPackage.keyPair()
        var package = try PluginPackage.pack(Self.files, privateKey: privateKey)
        // The module's bytes follow its header; flip one (the manifest and its signature are untouched).
        let entries = try Tar.read(package)
        #expect(entries.map(\.0) == ["demo.wasm", "plugin.toml", "MANIFEST.json", "MANIFEST.sig"])
        package[512] ^= 0xff
        #expect(throws: PluginError.package("'demo.wasm' does not match its SHA-256 in the manifest")) {
            try PluginPackage.verify(package, publishers: [publicKey], allowUnsigned: false)
        }
        let unsigned = try PluginPackage.pack(Self.files, privateKey: nil)
        #expect(throws: PluginError.self) {
            try PluginPackage.verify(unsigned, publishers: [publicKey], allowUnsigned: false)
        }
        #expect(try PluginPackage.verify(unsigned, publishers: [], allowUnsigned: true).publisher == nil)
        // A file the manifest does not list.
        let manifest = try #require(try Tar.read(unsigned).first { $0.0 == PluginPackage.manifestName })
        let extra = Tar.write([
            ("demo.wasm", Self.files["demo.wasm"]!), ("plugin.toml", Self.files["plugin.toml"]!),
            ("evil.sh", Array("rm -rf /".utf8)), manifest,
        ])
        #expect(throws: PluginError.package("'evil.sh' is in the package but not in its manifest")) {
            try PluginPackage.verify(extra, publishers: [], allowUnsigned: true)
        }
        let missing = Tar.write([("plugin.toml", Self.files["plugin.toml"]!), manifest])
        #expect(throws: PluginError.package("'demo.wasm' is in the manifest but not in the package")) {
            try PluginPackage.verify(missing, publishers: [], allowUnsigned: true)
        }
    }

    @Test func hostileArchiveEntriesAreRefused() throws {
        for path in ["../evil.wasm", "/etc/cron.d/evil", "a/../../evil"] {
            #expect(throws: PluginError.package("the archive entry '\(path)' has a path outside the package")) {
                try Tar.read(Tar.write([(path, [1, 2, 3])]))
            }
        }
        // A symbolic link (type 2) and a device (type 3) are not regular files.
        for type in ["2", "3"] {
            var archive = Tar.write([("link", [])])
            archive[156] = try #require(Character(type).asciiValue)
            #expect(throws: PluginError.self) { try Tar.read(archive) }
        }
        let twice = Tar.write([("plugin.toml", [1]), ("plugin.toml", [2])])
        #expect(throws: PluginError.package("the package holds 'plugin.toml' twice")) {
            try PluginPackage.verify(twice, publishers: [], allowUnsigned: true)
        }
        let huge = [UInt8](repeating: 0, count: PluginPackage.maxBytes + 1)
        #expect(throws: PluginError.package("the package is larger than 64 MiB")) {
            try PluginPackage.verify(huge, publishers: [], allowUnsigned: true)
        }
        var truncated = Tar.write([("plugin.toml", [UInt8](repeating: 7, count: 2000))])
        truncated.removeLast(2000)
        #expect(throws: PluginError.self) { try Tar.read(truncated) }
    }
}
