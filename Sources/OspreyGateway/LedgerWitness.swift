import Foundation
import Logging
import OspreyCore
import OspreyStore
public import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Appends every new signed ledger head to a file outside the home, at most once a second and once more at
/// shutdown, so that `osprey audit verify --witness FILE` can tell a ledger that was cut or rolled back.
///
/// Each line is written with one `write` on an `O_APPEND` descriptor and fsynced: the file works as an append-only
/// file (`chattr +a`), which even the gateway's own user cannot shorten.
public struct LedgerWitness: Service {
    let file: URL
    let ledger: Ledger
    let logger: Logger

    init(file: URL, ledger: Ledger, logger: Logger) {
        self.file = file
        self.ledger = ledger
        self.logger = logger
    }

    /// The witness file `path` names; refused inside the home: whoever can rewrite the home could rewrite it too.
    static func file(path: String, home: URL) throws -> URL {
        let file = URL(fileURLWithPath: path).standardizedFileURL
        let root = home.standardizedFileURL.path
        guard !(file.path == root || file.path.hasPrefix(root + "/")) else {
            throw ConfigError("ledger.witness must be outside the home (\(root))")
        }
        return file
    }

    public func run() async throws {
        let written = await cancelWhenGracefulShutdown {
            var written = 0
            while !Task.isCancelled {
                written = await appendLogged(after: written)
                do { try await Task.sleep(for: .seconds(1)) } catch { break }
            }
            return written
        }
        _ = await appendLogged(after: written)  // the last head before shutdown
    }

    /// ``appendIfNew(after:)``, with a failure logged (the witness is retried next second).
    private func appendLogged(after written: Int) async -> Int {
        do {
            return try await appendIfNew(after: written)
        } catch {
            logger.error("ledger witness append failed", metadata: ["file": "\(file.path)", "error": "\(error)"])
            return written
        }
    }

    /// Appends the head if it is past `after`; returns the seq now witnessed.
    func appendIfNew(after: Int) async throws -> Int {
        guard let (seq, line) = try await ledger.witnessLine(), seq > after else { return after }
        let descriptor = open(file.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ConfigError("cannot open the ledger witness \(file.path)") }
        defer { close(descriptor) }
        let bytes = Array((line + "\n").utf8)
        let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard count == bytes.count, fsync(descriptor) == 0 else {
            throw ConfigError("cannot append to the ledger witness \(file.path)")
        }
        return seq
    }
}
