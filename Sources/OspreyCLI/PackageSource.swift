import Foundation
import OspreyPlugins

/// What `osprey plugins install` and `osprey skills install` read: a package file, verified whole (its signature
/// against the trusted publishers, every file's hash, every entry) before anything is written, or, only with
/// `--allow-unsigned`, a folder.
enum PackageSource {
    /// The files and the publisher that signed them (nil: unsigned). `folder` reads a folder's files; `sign` is the
    /// command an author signs with, for the refusal's message.
    static func read(
        _ path: String,
        publishers: [String],
        allowUnsigned: Bool,
        sign: String,
        folder: (URL) throws -> [String: [UInt8]]
    ) throws -> (files: [String: [UInt8]], publisher: String?) {
        let source = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory) else {
            throw CLIError("no file or folder at \(path)")
        }
        if isDirectory.boolValue {
            guard allowUnsigned else {
                throw CLIError("a folder is not a signed package: sign it (\(sign)) or use --allow-unsigned")
            }
            return (try folder(source), nil)
        }
        let size = (try FileManager.default.attributesOfItem(atPath: source.path)[.size] as? Int) ?? 0
        guard size <= PluginPackage.maxBytes else {
            throw CLIError("package refused: larger than \(PluginPackage.maxBytes >> 20) MiB")
        }
        let verified = try PluginPackage.verify(
            [UInt8](try Data(contentsOf: source)),
            publishers: publishers,
            allowUnsigned: allowUnsigned
        )
        return (verified.files, verified.publisher)
    }
}
