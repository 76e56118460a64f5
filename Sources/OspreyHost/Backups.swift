public import Crypto
import CryptoExtras
public import Foundation
public import OspreyCore
import OspreyStore
import OspreyTools

/// A backup's table of contents: every file with its size and SHA-256 (of its plain bytes), what the ledger held,
/// and, when encrypted, how the key is derived from the passphrase.
public struct BackupManifest: Codable, Sendable, Equatable {
    public struct File: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int
        public var sha256: String
    }

    public struct Ledger: Codable, Sendable, Equatable {
        public var count: Int
        public var head: String
        public init(count: Int, head: String) {
            self.count = count
            self.head = head
        }
    }

    public struct KeyDerivation: Codable, Sendable, Equatable {
        public var name = "scrypt"
        public var salt: String
        public var n: Int
        public var r: Int
        public var p: Int
    }

    public var version = 1
    public var createdAt: String
    public var files: [File]
    public var ledger: Ledger
    public var sessions: Int
    public var memories: Int
    public var kdf: KeyDerivation?
    /// A known text sealed under the key: opening it tells a wrong passphrase from a damaged file.
    public var keyCheck: String?

    public init(
        createdAt: String,
        files: [File],
        ledger: Ledger,
        sessions: Int,
        memories: Int,
        kdf: KeyDerivation? = nil,
        keyCheck: String? = nil
    ) {
        self.createdAt = createdAt
        self.files = files
        self.ledger = ledger
        self.sessions = sessions
        self.memories = memories
        self.kdf = kdf
        self.keyCheck = keyCheck
    }

    enum CodingKeys: String, CodingKey {
        case version, files, ledger, sessions, memories, kdf
        case createdAt = "created_at"
        case keyCheck = "key_check"
    }
}

/// Why a backup is refused: the first bad file, and what is wrong with it.
public struct BackupError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var reason: String
    public var description: String { "\(file): \(reason)" }
    init(_ file: String, _ reason: String) {
        self.file = file
        self.reason = reason
    }
}

/// Backups of a home: a consistent copy of the database taken while the gateway runs (`VACUUM INTO`), the config,
/// token, secret store, memories, skills, plugins and personas, with a manifest of SHA-256s; optionally encrypted
/// (AES-GCM per file, the file's path as associated data, under a key scrypt derives from a passphrase). A backup
/// is verified whole (every file, then the copied ledger's chain against the manifest's head) before it is restored.
public enum Backups {
    /// What a backup holds besides the database, relative to the home.
    static let contents = ["config.toml", "token", "secrets", "memory", "skills", "plugins", "personas"]
    static let database = "osprey.db"
    static let checkText = "osprey-backup-key-check"

    /// scrypt's cost: 2^15 × 8 × 128 bytes = 32 MiB of memory per derivation.
    static let cost = (n: 1 << 15, r: 8, p: 1)

    public static func create(
        home: Home,
        into parent: URL,
        passphrase: String?,
        now: Date = Date()
    ) async throws
        -> (URL, BackupManifest)
    {
        let stamp = WireFormat.timestamp(now).replacingOccurrences(of: ":", with: "").replacingOccurrences(
            of: ".",
            with: ""
        )
        let folder = parent.appendingPathComponent("osprey-backup-\(stamp)")
        try FileManager.default.createDirectory(
            at: folder,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let staging = folder.appendingPathComponent(".db-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: staging) }
        // VACUUM INTO blocks for as long as the database takes to copy: on a Dispatch thread, not the task pool.
        try await Workspace.offload { try Store.snapshot(databaseAt: home.databaseFile.path, to: staging.path) }
        let store = try Store.open(path: staging.path, ledgerKey: try home.readLedgerKey(), readOnly: true)
        let verification = try await store.ledger.verify()
        guard verification.ok else {
            throw BackupError(database, "the ledger does not verify: \(verification.reason ?? "broken")")
        }
        let counts = try await store.counts()
        var key: SymmetricKey?
        var kdf: BackupManifest.KeyDerivation?
        var check: String?
        if let passphrase {
            let salt = Data((0..<16).map { _ in UInt8.random(in: 0...255) })
            kdf = .init(salt: salt.base64EncodedString(), n: cost.n, r: cost.r, p: cost.p)
            let derived = try derive(passphrase, kdf!)
            key = derived
            check = try AES.GCM.seal(Data(checkText.utf8), using: derived).combined!.base64EncodedString()
        }
        var files: [BackupManifest.File] = []
        var directories: Set<String> = [folder.path, parent.path]
        // Each file private from its first byte and synced; the manifest, written last and durably, is what makes the
        // folder a backup (one killed before it is not listed, kept by nothing, and fails `verify`).
        func add(_ data: Data, as path: String) throws {
            let stored =
                try key.map { try AES.GCM.seal(data, using: $0, authenticating: Data(path.utf8)).combined! } ?? data
            directories.formUnion(try Self.writePrivate(stored, as: path, in: folder))
            files.append(.init(path: path, size: data.count, sha256: SHA256.hash(data: data).hexString))
        }
        try add(try Data(contentsOf: staging), as: database)
        for path in try regularFiles(in: home.root, under: contents) {
            try add(try Data(contentsOf: home.root.appendingPathComponent(path)), as: path)
        }
        let manifest = BackupManifest(
            createdAt: WireFormat.timestamp(now),
            files: files,
            ledger: .init(count: verification.count, head: verification.head),
            sessions: counts["sessions"] ?? 0,
            memories: counts["memories"] ?? 0,
            kdf: kdf,
            keyCheck: check
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        for directory in directories.sorted(by: >) { try DurableFile.syncDirectory(directory) }
        try DurableFile.replace(
            folder.appendingPathComponent("manifest.json").path,
            bytes: Array(try encoder.encode(manifest)),
            mode: 0o600
        )
        return (folder, manifest)
    }

    /// Checks every file of the backup (present, decryptable, its size and SHA-256) and the copied ledger (its chain
    /// verifies and ends at the manifest's head); the first problem is thrown naming its file.
    @discardableResult
    public static func verify(_ folder: URL, passphrase: String?) async throws -> BackupManifest {
        try await open(folder, passphrase: passphrase) { _, _ in }
    }

    /// Verifies the backup, then writes it out as a new home at `target` (which must not exist or be empty).
    @discardableResult
    public static func restore(_ folder: URL, to target: URL, passphrase: String?) async throws -> BackupManifest {
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: target.path), !existing.isEmpty {
            throw BackupError(target.path, "the target is not empty")
        }
        let manifest = try await verify(folder, passphrase: passphrase)
        try FileManager.default.createDirectory(
            at: target,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        var directories: Set<String> = [target.path, target.deletingLastPathComponent().path]
        _ = try await open(folder, passphrase: passphrase) { path, data in
            // On the disk before the restore says it is done.
            directories.formUnion(try Self.writePrivate(data, as: path, in: target))
        }
        for directory in directories.sorted(by: >) { try DurableFile.syncDirectory(directory) }
        return manifest
    }

    /// Writes `data` at the relative `path` under `root`, private from its first byte (its folders too) and synced;
    /// returns the folders between `root` and it, each of which holds a name to sync before the set is complete.
    static func writePrivate(_ data: Data, as path: String, in root: URL) throws -> [String] {
        let file = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(),
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        try DurableFile.writeSynced(file.path, bytes: Array(data), mode: 0o600)
        let parts = path.split(separator: "/").dropLast()
        return parts.indices.map { end in root.appendingPathComponent(parts[...end].joined(separator: "/")).path }
    }

    /// Reads every file of a backup, checked, handing each to `body`; then checks the database's ledger.
    static func open(
        _ folder: URL,
        passphrase: String?,
        _ body: (String, Data) throws -> Void
    ) async throws -> BackupManifest {
        let manifest: BackupManifest
        do {
            manifest = try JSONDecoder().decode(
                BackupManifest.self,
                from: Data(contentsOf: folder.appendingPathComponent("manifest.json"))
            )
        } catch {
            throw BackupError("manifest.json", "missing or unreadable (\(error.localizedDescription))")
        }
        var key: SymmetricKey?
        if let kdf = manifest.kdf {
            guard let passphrase else {
                throw BackupError("manifest.json", "this backup is encrypted: give its passphrase")
            }
            let derived = try derive(passphrase, kdf)
            guard let check = manifest.keyCheck.flatMap({ Data(base64Encoded: $0) }),
                let opened = try? AES.GCM.open(AES.GCM.SealedBox(combined: check), using: derived),
                opened == Data(checkText.utf8)
            else { throw BackupError("manifest.json", "the passphrase is wrong") }
            key = derived
        }
        var ledgerKey: [UInt8]?
        var databaseBytes: Data?
        for file in manifest.files {
            guard !file.path.hasPrefix("/"), !file.path.split(separator: "/").contains("..") else {
                throw BackupError(file.path, "a path outside the backup")
            }
            guard let stored = try? Data(contentsOf: folder.appendingPathComponent(file.path)) else {
                throw BackupError(file.path, "missing")
            }
            var data = stored
            if let key {
                guard let box = try? AES.GCM.SealedBox(combined: stored),
                    let opened = try? AES.GCM.open(box, using: key, authenticating: Data(file.path.utf8))
                else { throw BackupError(file.path, "cannot be decrypted: altered or truncated") }
                data = opened
            }
            guard data.count == file.size else {
                throw BackupError(
                    file.path,
                    "\(data.count) bytes where the manifest says \(file.size): truncated or altered"
                )
            }
            guard SHA256.hash(data: data).hexString == file.sha256 else {
                throw BackupError(file.path, "its SHA-256 does not match the manifest: altered")
            }
            if file.path == "secrets/ledger.key" {
                ledgerKey = Home.parseKey(String(decoding: data, as: UTF8.self))
            }
            if file.path == database { databaseBytes = data }
            try body(file.path, data)
        }
        guard let databaseBytes else { throw BackupError(database, "missing from the manifest") }
        guard let ledgerKey else { throw BackupError("secrets/ledger.key", "missing from the manifest") }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "osprey-verify-\(UUID().uuidString).db"
        )
        defer { try? FileManager.default.removeItem(at: scratch) }
        try databaseBytes.write(to: scratch)
        let verification: LedgerVerification
        do {
            verification = try await Store.open(path: scratch.path, ledgerKey: ledgerKey, readOnly: true).ledger
                .verify()
        } catch {
            throw BackupError(database, "cannot be opened: \(error)")
        }
        guard verification.ok else {
            throw BackupError(database, "its ledger does not verify: \(verification.reason ?? "")")
        }
        guard verification.count == manifest.ledger.count, verification.head == manifest.ledger.head else {
            throw BackupError(database, "its ledger head does not match the manifest's")
        }
        return manifest
    }

    /// The backups in `parent`, oldest first.
    public static func list(in parent: URL) -> [(URL, BackupManifest)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []
        return names.filter { $0.hasPrefix("osprey-backup-") }.sorted().compactMap { name in
            let folder = parent.appendingPathComponent(name)
            guard let data = try? Data(contentsOf: folder.appendingPathComponent("manifest.json")),
                let manifest = try? JSONDecoder().decode(BackupManifest.self, from: data)
            else { return nil }
            return (folder, manifest)
        }
    }

    /// Deletes the backups retention does not keep: the newest of each of the last `daily` days and of each of the
    /// last `weekly` weeks (by their UTC dates). Answers what it deleted.
    @discardableResult
    public static func prune(in parent: URL, keepDaily daily: Int, keepWeekly weekly: Int) -> [URL] {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var keep: Set<URL> = []
        var days: [String] = []
        var weeks: [String] = []
        for (folder, manifest) in list(in: parent).reversed() {
            guard let date = WireFormat.date(from: manifest.createdAt) else {
                keep.insert(folder)
                continue
            }
            let parts = calendar.dateComponents([.year, .month, .day, .yearForWeekOfYear, .weekOfYear], from: date)
            let day = "\(parts.year!)-\(parts.month!)-\(parts.day!)"
            let week = "\(parts.yearForWeekOfYear!)-\(parts.weekOfYear!)"
            if !days.contains(day), days.count < daily {
                days.append(day)
                keep.insert(folder)
            }
            if !weeks.contains(week), weeks.count < weekly {
                weeks.append(week)
                keep.insert(folder)
            }
        }
        let doomed = list(in: parent).map(\.0).filter { !keep.contains($0) }
        for folder in doomed { try? FileManager.default.removeItem(at: folder) }
        return doomed
    }

    static func derive(_ passphrase: String, _ kdf: BackupManifest.KeyDerivation) throws -> SymmetricKey {
        guard kdf.name == "scrypt", let salt = Data(base64Encoded: kdf.salt), kdf.n <= 1 << 20, kdf.r <= 32, kdf.p <= 16
        else {
            throw BackupError("manifest.json", "an unknown or unsafe key derivation")
        }
        return try KDF.Scrypt.deriveKey(
            from: Data(passphrase.utf8),
            salt: salt,
            outputByteCount: 32,
            rounds: kdf.n,
            blockSize: kdf.r,
            parallelism: kdf.p,
            maxMemory: 256 << 20
        )
    }

    /// The regular files under the home's `folders` (or the files themselves), relative to the home, sorted.
    static func regularFiles(in root: URL, under folders: [String]) throws -> [String] {
        var found: [String] = []
        for name in folders {
            let url = root.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { continue }
            if !isDirectory.boolValue {
                found.append(name)
                continue
            }
            let walker = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey])
            while let file = walker?.nextObject() as? URL {
                guard (try? file.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
                found.append(name + "/" + file.path.dropFirst(url.path.count + 1))
            }
        }
        return found.sorted()
    }
}
