import ArgumentParser
import Foundation
import OspreyCore
import OspreyPlugins

/// What `osprey plugins install` and `osprey skills install` take, read and do last: the package or folder, whether
/// it may replace an installed one or run unsigned, and the folder checked in staging put in place in one step.
struct PackageInstall: ParsableArguments {
    @OptionGroup var options: HomeOptions
    @Argument(help: "A package file (.ospkg) or the folder to install.") var path: String
    @Flag(help: "Replace an installed one of the same name.") var force = false
    @Flag(help: "Install an unsigned package or a folder (its content stays untrusted).") var allowUnsigned = false

    /// The package's files and who signed them (nil: unsigned), read with the home's trusted publishers.
    func read(
        sign: String,
        folder: (URL) throws -> [String: [UInt8]]
    ) throws -> (files: [String: [UInt8]], publisher: String?) {
        let config = (try? OspreyConfig.load(from: options.resolved.configFile)) ?? OspreyConfig()
        return try PackageSource.read(
            path,
            publishers: config.pluginPublishers,
            allowUnsigned: allowUnsigned,
            sign: sign,
            folder: folder
        )
    }

    /// Refuses to replace an installed `kind` named `name` without `--force`.
    func mayInstall(_ kind: String, named name: String, at target: URL) throws {
        if !force, FileManager.default.fileExists(atPath: target.path) {
            throw CLIError("a \(kind) named '\(name)' is installed (use --force to replace it)")
        }
    }

    /// Puts the checked folder `staged` at `target`: the old one (with `--force`) stays whole until the new one,
    /// synced, takes its place in one step; a failure leaves the old one as it was.
    func place(_ staged: URL, at target: URL) throws {
        try DurableFile.replaceDirectory(target.path, with: staged.path)
    }
}

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
