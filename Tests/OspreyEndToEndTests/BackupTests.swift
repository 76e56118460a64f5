import AsyncHTTPClient
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyTesting
import Synchronization
import Testing

/// `osprey backup` against a real gateway that keeps writing while the backup is taken.
@Suite(.serialized)
struct BackupTests {
    let osprey: OspreyExecutable
    init() throws { osprey = try OspreyExecutable.locate() }

    /// Creates sessions through the API as fast as it answers, `count` of them, counting them in `made`.
    static func append(port: Int, token: String, count: Int, made: Made) async throws {
        for n in 0..<count {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/sessions")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: #"{"title":"s\#(n)"}"#))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            _ = try await response.body.collect(upTo: 1 << 16)
            made.count.withLock { $0 += 1 }
        }
    }

    @Test func aBackupTakenUnderWritesRestoresTamperingIsNamedAndPassphrasesAreChecked() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-backup")
        defer { home.remove() }
        try CLITests.configure(home, server: CLITests.ownMockModel())
        let args = ["--home", home.path]
        let port = freeLoopbackPort()
        let gateway = try await osprey.startGateway(home: home.path, port: port)
        defer { gateway.kill() }
        let token = try String(contentsOf: home.url.appendingPathComponent("token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try await osprey.run(["memory", "add", "--title", "heron", "The heron fishes at dawn."] + args)
        let backups = home.url.appendingPathComponent("backups-out")

        // Taken while sessions are being created at a steady rate
        let made = Made()
        async let writing: Void = Self.append(port: port, token: token, count: 200, made: made)
        try await TestRuns.waitUntil { made.count.withLock { $0 } > 0 }
        let created = try await osprey.run(["backup", "create", "--out", backups.path] + args)
        try await writing
        #expect(created.status == 0, "\(created.stderr)")
        let folder = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let manifest = try JSONValue.parse(try String(contentsOfFile: folder + "/manifest.json", encoding: .utf8))
        #expect(try await osprey.run(["backup", "verify", folder] + args).stdout.hasPrefix("ok: "))
        let listed = try await osprey.run(["backup", "list", "--out", backups.path] + args)
        #expect(listed.stdout.contains(folder))

        // Restored, it is a home whose ledger verifies and matches the manifest
        let restored = home.url.appendingPathComponent("restored")
        let restore = try await osprey.run(["backup", "restore", folder, "--to", restored.path] + args)
        #expect(restore.status == 0, "\(restore.stderr)")
        let audit = try JSONValue.parse(
            try await osprey.run(["audit", "verify", "--json", "--home", restored.path]).stdout
        )
        #expect(audit["ok"] == true)
        #expect(audit["count"] == manifest["ledger"]?["count"] && audit["head"] == manifest["ledger"]?["head"])
        let sessions = try await DatabaseQueue(path: restored.appendingPathComponent("osprey.db").path).read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions")
        }
        #expect(sessions.map(JSONValue.int) == manifest["sessions"])
        #expect(manifest["memories"] == 1)
        #expect(FileManager.default.fileExists(atPath: restored.appendingPathComponent("secrets/ledger.key").path))
        let again = try await osprey.run(["backup", "restore", folder, "--to", restored.path] + args)
        #expect(again.status != 0 && again.stderr.contains("not empty"))

        // A tampered file and a truncated database are refused, each named
        let memory = try #require(
            try FileManager.default.contentsOfDirectory(atPath: folder + "/memory").first { $0.hasSuffix(".md") }
        )
        let memoryFile = URL(fileURLWithPath: folder + "/memory/" + memory)
        let original = try Data(contentsOf: memoryFile)
        try (String(decoding: original, as: UTF8.self).replacingOccurrences(of: "dawn", with: "dusk")).write(
            to: memoryFile,
            atomically: true,
            encoding: .utf8
        )
        let tampered = try await osprey.run(["backup", "verify", folder] + args)
        #expect(tampered.status != 0 && tampered.stderr.contains("memory/\(memory): its SHA-256"), "\(tampered.stderr)")
        try original.write(to: memoryFile)
        let database = URL(fileURLWithPath: folder + "/osprey.db")
        let bytes = try Data(contentsOf: database)
        try bytes.prefix(bytes.count / 2).write(to: database)
        let truncated = try await osprey.run(["backup", "verify", folder] + args)
        #expect(truncated.status != 0 && truncated.stderr.contains("osprey.db:"), "\(truncated.stderr)")

        // Encrypted: the wrong passphrase is a clear error; the right one verifies and restores
        let secret = home.url.appendingPathComponent("pass")
        try "correct horse battery staple\n".write(to: secret, atomically: true, encoding: .utf8)
        let wrong = home.url.appendingPathComponent("wrong")
        try "incorrect horse\n".write(to: wrong, atomically: true, encoding: .utf8)
        let sealed = try await osprey.run(
            ["backup", "create", "--out", backups.path + "-sealed", "--passphrase-file", secret.path] + args
        )
        #expect(sealed.status == 0, "\(sealed.stderr)")
        let sealedFolder = sealed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let config = try Data(contentsOf: URL(fileURLWithPath: sealedFolder + "/config.toml"))
        #expect(!String(decoding: config, as: UTF8.self).contains("[[providers]]"))
        let refused = try await osprey.run(["backup", "verify", sealedFolder, "--passphrase-file", wrong.path] + args)
        #expect(refused.status != 0 && refused.stderr.contains("the passphrase is wrong"), "\(refused.stderr)")
        let missing = try await osprey.run(["backup", "verify", sealedFolder] + args)
        #expect(missing.stderr.contains("give its passphrase"))
        let opened = try await osprey.run(["backup", "verify", sealedFolder, "--passphrase-file", secret.path] + args)
        #expect(opened.status == 0, "\(opened.stderr)")
        let second = home.url.appendingPathComponent("restored-sealed")
        _ = try await osprey.run(
            ["backup", "restore", sealedFolder, "--to", second.path, "--passphrase-file", secret.path] + args
        )
        #expect(try await osprey.run(["audit", "verify", "--home", second.path]).status == 0)
    }

    /// A backup is complete once its manifest names its files, so every file and every folder's names must be on the
    /// disk before the manifest is: traced (`strace -y`, each sync with the path of what it syncs), each file is
    /// synced, then each folder (its names: without this, a power cut could keep a manifest whose files have no
    /// names), and only then is the manifest named.
    @Test func everyFileOfABackupIsOnTheDiskBeforeItsManifestNamesIt() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-backup")
        defer { home.remove() }
        try CLITests.configure(home, server: CLITests.ownMockModel())
        let args = ["--home", home.path]
        let gateway = try await osprey.startGateway(home: home.path, port: freeLoopbackPort())
        defer { gateway.kill() }
        _ = try await osprey.run(["memory", "add", "--title", "heron", "The heron fishes at dawn."] + args)
        let backups = home.url.appendingPathComponent("backups-out").path
        let trace = home.url.appendingPathComponent("trace").path
        let created = try await runProgram(
            ["strace", "-f", "-qq", "-y", "-o", trace, "-e", "trace=fsync,rename,renameat,renameat2"]
                + [osprey.path, "backup", "create", "--out", backups] + args,
            timeout: .seconds(120)
        )
        #expect(created.status == 0, "\(created.stderr)")
        let folder = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let manifest = try JSONValue.parse(try String(contentsOfFile: folder + "/manifest.json", encoding: .utf8))
        let files = try #require(manifest["files"]?.arrayValue).compactMap { $0["path"]?.stringValue }
        #expect(files.contains("osprey.db") && files.contains { $0.hasPrefix("memory/") }, "\(files)")
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        let named = try #require(lines.lastIndex { $0.contains("manifest.json\"") && $0.contains("rename") })
        for file in files {
            let synced = lines.firstIndex { $0.contains("fsync(") && $0.contains("<\(folder)/\(file)>") }
            #expect(synced.map { $0 < named } == true, "\(file) is not synced before the manifest is named")
        }
        let folders = Set(
            [folder] + files.compactMap { $0.contains("/") ? "\(folder)/\($0.split(separator: "/")[0])" : nil }
        )
        #expect(folders.count >= 3, "\(folders)")  // the backup's own, memory/ and secrets/
        for directory in folders {
            let synced = lines.firstIndex { $0.contains("fsync(") && $0.hasSuffix("<\(directory)>) = 0") }
            #expect(synced.map { $0 < named } == true, "\(directory) is not synced before the manifest is named")
        }
    }
}

extension BackupTests {
    /// A call to the gateway's API with the home token; the status and the JSON answer.
    static func api(
        _ method: HTTPMethod,
        _ path: String,
        port: Int,
        token: String
    ) async throws -> (status: Int, json: JSONValue) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if method == .POST {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: "{}"))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1 << 22)
        return (Int(response.status.code), try JSONValue.parse(String(buffer: body)))
    }

    @Test func theGatewayTakesScheduledEncryptedBackupsPrunesThemAndTakesOneWhenAsked() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-backup-schedule")
        defer { home.remove() }
        try CLITests.configure(home, server: CLITests.ownMockModel())
        let scheduled = home.url.appendingPathComponent("scheduled").path
        let configFile = home.url.appendingPathComponent("config.toml")
        let config = try String(contentsOf: configFile, encoding: .utf8)
        try
            (config + """

                [backup]
                schedule = "@every 1s"
                directory = "\(scheduled)"
                keep_daily = 1
                keep_weekly = 0
                passphrase = "${env:OSPREY_TEST_BACKUP_PASSPHRASE}"

                """).write(to: configFile, atomically: true, encoding: .utf8)
        let port = freeLoopbackPort()
        let gateway = try await osprey.startGateway(
            home: home.path,
            port: port,
            environment: ["OSPREY_TEST_BACKUP_PASSPHRASE": "correct horse battery staple"]
        )
        defer { gateway.kill() }
        let token = try String(contentsOf: home.url.appendingPathComponent("token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)

        // One asked for through the API, encrypted like the scheduled ones
        let asked = try await Self.api(.POST, "/api/backups", port: port, token: token)
        #expect(asked.status == 201 && asked.json["encrypted"] == true, "\(asked.json)")
        // The schedule's own, each pruning the one before (one kept per day)
        var created: [JSONValue] = []
        try await TestRuns.waitUntil {
            created =
                try await Self.api(.GET, "/api/events?type=backup.created&limit=100", port: port, token: token)
                .json["events"]?.arrayValue ?? []
            return created.count >= 3
        }
        let payloads = created.compactMap { $0["payload"] }
        #expect(payloads.dropFirst().allSatisfy { ($0["pruned"]?.arrayValue?.count ?? 0) >= 1 }, "\(payloads)")
        #expect(payloads.allSatisfy { $0["encrypted"] == true && $0["files"]?.intValue ?? 0 > 3 })
        let listed = try await Self.api(.GET, "/api/backups", port: port, token: token)
        #expect(listed.json["directory"] == .string(scheduled))
        #expect((1...2).contains(listed.json["backups"]?.arrayValue?.count ?? 0), "\(listed.json)")

        // A viewer token may not take or list backups (they hold the secret store)
        let viewer = try await osprey.run([
            "tokens", "create", "--role", "viewer", "--name", "watcher", "--home", home.path,
        ])
        let viewerToken = viewer.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await Self.api(.GET, "/api/backups", port: port, token: viewerToken).status == 403)

        // The newest verifies with the passphrase, and not without it. The gateway is stopped first: its schedule
        // (every second) would prune the folder being verified when the next backup lands.
        gateway.kill()
        let folders = try FileManager.default.contentsOfDirectory(atPath: scheduled).sorted().filter { name in
            FileManager.default.fileExists(atPath: "\(scheduled)/\(name)/manifest.json")
        }
        let newest = "\(scheduled)/\(try #require(folders.last))"
        let pass = home.url.appendingPathComponent("pass")
        try "correct horse battery staple\n".write(to: pass, atomically: true, encoding: .utf8)
        let ok = try await osprey.run(["backup", "verify", newest, "--passphrase-file", pass.path])
        #expect(ok.status == 0 && ok.stdout.hasPrefix("ok: "), "\(ok.stderr)")
        let locked = try await osprey.run(["backup", "verify", newest])
        #expect(locked.stderr.contains("give its passphrase"))
    }
}

/// Sessions made so far.
final class Made: Sendable {
    let count = Mutex(0)
}
