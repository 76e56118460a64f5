import Foundation
public import OspreyCore

/// A folder outside the workspace holding `readme.txt`: untrusted content that a test's agent reads through a read
/// root (`settings.readRoots = [readme.folder]`), usually carrying an instruction the model then obeys.
public struct UntrustedReadme: Sendable {
    public let directory: TemporaryDirectory

    public init(_ content: String) throws {
        directory = try TemporaryDirectory(prefix: "osprey-untrusted")
        try directory.url.writeFile("readme.txt", content)
    }

    /// The read root to grant.
    public var folder: String { directory.path }

    /// The scripted model's call that reads the file.
    public var readCall: Message {
        .toolCall("read_file", JSONValue.object(["path": .string(directory.path + "/readme.txt")]).canonicalJSON)
    }

    public func remove() { directory.remove() }
}
