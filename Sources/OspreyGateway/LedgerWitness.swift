import Foundation
import OspreyCore
import OspreyStore

#if canImport(Glibc)
import Glibc
#endif

/// Appends every new signed ledger head to a file outside the home, at most once a second and once more at
/// shutdown, so that `osprey audit verify --witness FILE` can tell a ledger that was cut or rolled back.
///
/// Each line is written with one `write` on an `O_APPEND` descriptor and fsynced: the file works as an append-only
/// file (`chattr +a`), which even the gateway's own user cannot shorten.
struct LedgerWitness: Sendable {
    let file: URL

    /// Refuses a witness inside the home: whoever can rewrite the home could then rewrite the witness too.
    init(path: String, home: URL) throws {
        let file = URL(fileURLWithPath: path).standardizedFileURL
        let root = home.standardizedFileURL.path
        guard !(file.path == root || file.path.hasPrefix(root + "/")) else {
            throw ConfigError("ledger.witness must be outside the home (\(root))")
        }
        self.file = file
    }

    func run(ledger: Ledger, every interval: Duration = .seconds(1)) async {
        var written = 0
        while true {
            written = (try? await appendIfNew(ledger: ledger, after: written)) ?? written
            do { try await Task.sleep(for: interval) } catch { break }
        }
        _ = try? await appendIfNew(ledger: ledger, after: written)  // the last head before shutdown
    }

    /// Appends the head if it is past `after`; returns the seq now witnessed.
    func appendIfNew(ledger: Ledger, after: Int) async throws -> Int {
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
