import Foundation
import Logging
import OspreyCore
import OspreyHost
import OspreyStore
import OspreyTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Package changes in a safe switch, with real dpkg on this machine and small packages built by the test.
/// dpkg writes the system, so these run where the tests run as root (CI and the project's machines do).
@Suite(.serialized, .enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg-deb")))
struct SafeSwitchPackageTests {
    static let name = "osprey-switch-probe"

    /// Runs a program; its exit status and output.
    @discardableResult
    static func run(_ argv: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A package of `version` holding one file that says so, built as `name_version_all.deb` in `directory`.
    static func build(version: String, in directory: URL) throws -> URL {
        let root = directory.appendingPathComponent("build-\(version)")
        let control = root.appendingPathComponent("DEBIAN")
        let share = root.appendingPathComponent("usr/share/\(name)")
        try FileManager.default.createDirectory(at: control, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: share, withIntermediateDirectories: true)
        try """
        Package: \(name)
        Version: \(version)
        Architecture: all
        Maintainer: Osprey tests <tests@osprey.invalid>
        Description: a package a safe switch installs and rolls back in a test

        """.write(to: control.appendingPathComponent("control"), atomically: true, encoding: .utf8)
        try "version \(version)\n".write(to: share.appendingPathComponent("VERSION"), atomically: true, encoding: .utf8)
        let deb = directory.appendingPathComponent("\(name)_\(version)_all.deb")
        let built = try run(["dpkg-deb", "--root-owner-group", "--build", root.path, deb.path])
        #expect(built.status == 0, "\(built.output)")
        return deb
    }

    static func installed() throws -> String? {
        let query = try run(["dpkg-query", "--show", "--showformat=${db:Status-Status} ${Version}", name])
        let fields = query.output.split(separator: " ")
        return query.status == 0 && fields.first == "installed" ? fields.last.map(String.init) : nil
    }

    func setup() throws -> (TemporaryDirectory, URL, SafeSwitch) {
        let directory = try TemporaryDirectory()
        let home = Home(root: directory.url.appendingPathComponent("home"))
        _ = try home.bootstrap()
        let granted = directory.url.appendingPathComponent("debs")
        try FileManager.default.createDirectory(at: granted, withIntermediateDirectories: true)
        let switches = SafeSwitch(
            store: try Store.inMemory(),
            home: home,
            roots: [granted.path],
            logger: Logger(label: "test"),
            packageArchives: [granted.path]
        )
        try Self.run(["dpkg", "--purge", Self.name])
        return (directory, granted, switches)
    }

    @Test func aNewPackageIsPurgedAndAnUpgradeUndoneByARollback() async throws {
        let (directory, granted, switches) = try setup()
        defer {
            _ = try? Self.run(["dpkg", "--purge", Self.name])
            directory.remove()
        }
        let first = try Self.build(version: "1.0", in: granted)
        let second = try Self.build(version: "2.0", in: granted)
        let checks: JSONValue = [["kind": "command", "argv": ["true"]]]

        // Not installed before: the rollback purges it
        let fresh = try await switches.begin(
            ["reason": "new package", "packages": [["deb": .string(first.path)]], "checks": checks],
            actor: .system
        )
        #expect(try Self.installed() == "1.0")
        let purged = try await switches.rollback(fresh.id, reason: "asked", actor: .system)
        #expect(try Self.installed() == nil)
        #expect(purged.outcome?["restored"] == [.string("package \(Self.name) (absent)")], "\(purged.outcome ?? .null)")

        // Installed at 1.0 (its .deb in the archive): an upgrade to 2.0 is undone back to 1.0
        #expect(try Self.run(["dpkg", "-i", first.path]).status == 0)
        let upgrade = try await switches.begin(
            ["reason": "upgrade", "packages": [["deb": .string(second.path)]], "checks": checks],
            actor: .system
        )
        #expect(try Self.installed() == "2.0")
        let undone = try await switches.rollback(upgrade.id, reason: "asked", actor: .system)
        #expect(try Self.installed() == "1.0", "\(undone.outcome ?? .null)")
        #expect(
            try String(contentsOfFile: "/usr/share/\(Self.name)/VERSION", encoding: .utf8) == "version 1.0\n"
        )
        // A removal commits
        let removal = try await switches.begin(
            ["reason": "remove", "packages": [["remove": .string(Self.name)]], "checks": checks],
            actor: .system
        )
        #expect(try Self.installed() == nil)
        _ = try await switches.commit(removal.id, actor: .system)
        #expect(try Self.installed() == nil)
    }

    @Test func aChangeThatCannotBeUndoneOrIsMalformedIsRefusedBeforeAnythingChanges() async throws {
        let (directory, granted, switches) = try setup()
        defer {
            _ = try? Self.run(["dpkg", "--purge", Self.name])
            directory.remove()
        }
        let first = try Self.build(version: "1.0", in: granted)
        #expect(try Self.run(["dpkg", "-i", first.path]).status == 0)
        try FileManager.default.removeItem(at: first)  // no .deb of 1.0 left to reinstall
        let checks: JSONValue = [["kind": "command", "argv": ["true"]]]
        await #expect {
            try await switches.begin(
                ["reason": "remove", "packages": [["remove": .string(Self.name)]], "checks": checks],
                actor: .system
            )
        } throws: { "\($0)".contains("cannot roll back \(Self.name) 1.0") }
        #expect(try Self.installed() == "1.0")
        for (change, message) in [
            (["install": "Bad_Name"] as JSONValue, "not a Debian package name"),
            (["install": "curl", "version": "1.0; rm -rf /"], "not a Debian version"),
            (["remove": "curl", "version": "1"], "a package change is"),
            (["deb": "/etc/passwd.deb"], "outside [host] switch_paths"),
            (["install": "curl", "remove": "curl"], "a package change is"),
        ] {
            await #expect {
                try await switches.begin(["reason": "x", "packages": [change], "checks": checks], actor: .system)
            } throws: { "\($0)".contains(message) }
        }
    }
}
