import Crypto
public import Foundation
public import OspreyCore

/// A plugin package: a ustar archive (readable with `tar tf`) of the plugin's files, a `MANIFEST.json` listing each
/// file's SHA-256, and `MANIFEST.sig`, the publisher's Ed25519 signature of the manifest's bytes.
///
/// Reading verifies everything before anything is written: the archive's size, every entry (regular files only: no
/// links, devices or directories-as-files; relative paths without `..`, no duplicates), the signature against the
/// trusted publishers' keys, and every file's hash against the manifest, with nothing missing and nothing extra.
public enum PluginPackage {
    /// The largest package read.
    public static let maxBytes = 64 << 20
    public static let manifestName = "MANIFEST.json"
    public static let signatureName = "MANIFEST.sig"

    /// What a verified package holds.
    public struct Verified: Sendable {
        public var files: [String: [UInt8]]
        /// The hex public key of the trusted publisher that signed it; nil for an unsigned package let in with
        /// `allowUnsigned`.
        public var publisher: String?
    }

    /// A new Ed25519 key pair: the private key (hex, keep it secret) and the public key (hex, for `[plugins]
    /// publishers`).
    public static func keyPair() -> (privateKey: String, publicKey: String) {
        let key = Curve25519.Signing.PrivateKey()
        return (key.rawRepresentation.hexString, key.publicKey.rawRepresentation.hexString)
    }

    /// The public key of a private key in hex.
    public static func publicKey(of privateKey: String) throws -> String {
        try signingKey(privateKey).publicKey.rawRepresentation.hexString
    }

    /// Packs `files` (path → bytes) with their manifest, signed with `privateKey` (hex) when given.
    public static func pack(_ files: [String: [UInt8]], privateKey: String?) throws -> [UInt8] {
        var hashes: [String: JSONValue] = [:]
        for (path, bytes) in files { hashes[path] = .string(SHA256.hash(data: bytes).hexString) }
        let manifest = Array(JSONValue.object(["files": .object(hashes), "format": 1]).canonicalJSON.utf8)
        var entries = files.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        entries.append((manifestName, manifest))
        if let privateKey {
            let signature = try signingKey(privateKey).signature(for: manifest)
            entries.append((signatureName, Array(signature.hexString.utf8)))
        }
        return Tar.write(entries)
    }

    /// Verifies `archive` as described above; throws a ``PluginError/package(_:)`` naming what is wrong.
    public static func verify(_ archive: [UInt8], publishers: [String], allowUnsigned: Bool) throws -> Verified {
        guard archive.count <= maxBytes else {
            throw PluginError.package("the package is larger than \(maxBytes >> 20) MiB")
        }
        let entries = try Tar.read(archive)
        var files: [String: [UInt8]] = [:]
        for (path, bytes) in entries {
            guard files.updateValue(bytes, forKey: path) == nil else {
                throw PluginError.package("the package holds '\(path)' twice")
            }
        }
        guard let manifestBytes = files.removeValue(forKey: manifestName) else {
            throw PluginError.package("the package has no \(manifestName)")
        }
        var publisher: String?
        if let signature = files.removeValue(forKey: signatureName) {
            guard let signatureBytes = [UInt8](hexString: String(decoding: signature, as: UTF8.self)) else {
                throw PluginError.package("\(signatureName) is not a hex signature")
            }
            publisher = publishers.first { key in
                guard let raw = [UInt8](hexString: key),
                    let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
                else { return false }
                return publicKey.isValidSignature(signatureBytes, for: manifestBytes)
            }
            guard publisher != nil else {
                throw PluginError.package(
                    "the package's signature is not from a trusted publisher ([plugins] publishers)"
                )
            }
        } else if !allowUnsigned {
            throw PluginError.package(
                "the package is not signed (install it with --allow-unsigned to run it untrusted)"
            )
        }
        guard let manifest = try? JSONValue.parse(manifestBytes), let listed = manifest["files"]?.objectValue else {
            throw PluginError.package("\(manifestName) is not a manifest of files")
        }
        for (path, bytes) in files {
            guard let expected = listed[path]?.stringValue else {
                throw PluginError.package("'\(path)' is in the package but not in its manifest")
            }
            guard expected == SHA256.hash(data: bytes).hexString else {
                throw PluginError.package("'\(path)' does not match its SHA-256 in the manifest")
            }
        }
        if let missing = listed.keys.sorted().first(where: { files[$0] == nil }) {
            throw PluginError.package("'\(missing)' is in the manifest but not in the package")
        }
        return Verified(files: files, publisher: publisher)
    }

    static func signingKey(_ hexKey: String) throws -> Curve25519.Signing.PrivateKey {
        guard let raw = [UInt8](hexString: hexKey.trimmingCharacters(in: .whitespacesAndNewlines)),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else { throw PluginError.package("the private key is not a hex Ed25519 key") }
        return key
    }

}

/// The ustar subset packages use: regular files only, each path relative and plain.
enum Tar {
    /// Reads every entry; refuses links, devices, FIFOs, absolute paths, `..`, and a truncated archive.
    static func read(_ archive: [UInt8]) throws -> [(String, [UInt8])] {
        var entries: [(String, [UInt8])] = []
        var offset = 0
        while offset + 512 <= archive.count {
            let header = Array(archive[offset..<offset + 512])
            if header.allSatisfy({ $0 == 0 }) { break }
            let name = field(header, 0, 100)
            let prefix = field(header, 345, 155)
            let path = prefix.isEmpty ? name : prefix + "/" + name
            guard let size = Int(field(header, 124, 12).trimmingCharacters(in: .whitespaces), radix: 8), size >= 0
            else {
                throw PluginError.package("the archive entry '\(path)' has no valid size")
            }
            let type = header[156]
            // 0 or NUL: a regular file. Directories (5) are skipped; anything else (links, devices) is refused.
            if type == UInt8(ascii: "5") {
                offset += 512
                continue
            }
            guard type == UInt8(ascii: "0") || type == 0 else {
                throw PluginError.package(
                    "the archive entry '\(path)' is not a regular file (type \(Character(UnicodeScalar(type))))"
                )
            }
            guard !path.isEmpty, !path.hasPrefix("/"), !path.split(separator: "/").contains(".."),
                !path.contains("\\"), path.utf8.count <= 255
            else { throw PluginError.package("the archive entry '\(path)' has a path outside the package") }
            let start = offset + 512
            guard start + size <= archive.count else {
                throw PluginError.package("the archive is truncated in '\(path)'")
            }
            entries.append((path, Array(archive[start..<start + size])))
            offset = start + (size + 511) / 512 * 512
        }
        return entries
    }

    static func field(_ header: [UInt8], _ start: Int, _ length: Int) -> String {
        let bytes = header[start..<start + length].prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes regular files (mode 0644, owner 0) and the two zero blocks that end an archive.
    static func write(_ entries: [(String, [UInt8])]) -> [UInt8] {
        var output: [UInt8] = []
        for (path, bytes) in entries {
            var header = [UInt8](repeating: 0, count: 512)
            func put(_ text: String, _ start: Int, _ length: Int) {
                for (index, byte) in text.utf8.prefix(length).enumerated() { header[start + index] = byte }
            }
            put(path, 0, 100)
            put("0000644", 100, 8)
            put("0000000", 108, 8)
            put("0000000", 116, 8)
            put(String(format: "%011o", bytes.count), 124, 12)
            put("00000000000", 136, 12)
            put("        ", 148, 8)
            header[156] = UInt8(ascii: "0")
            put("ustar", 257, 6)
            put("00", 263, 2)
            let checksum = header.reduce(0) { $0 + Int($1) }
            put(String(format: "%06o", checksum) + "\0 ", 148, 8)
            output += header
            output += bytes
            output += [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
        }
        return output + [UInt8](repeating: 0, count: 1024)
    }
}
