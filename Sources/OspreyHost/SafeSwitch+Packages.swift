import Foundation
import OspreyCore
import OspreyTools

#if canImport(Glibc)
import Glibc
#endif

/// Package changes in a switch: what each package was before (absent, or a version whose `.deb` is kept in the
/// snapshot) is saved and synced before dpkg or apt touches it; a rollback purges what was absent and reinstalls
/// the saved `.deb` of what was there.
extension SafeSwitch {
    /// A package's state before the switch.
    struct PackageState: Codable, Equatable {
        var name: String
        /// The installed version; nil when it was not installed.
        var version: String?
        /// The saved `.deb` of that version, in the snapshot folder.
        var blob: String?
    }

    /// Checks that the plan's package changes can be made and undone, then saves the packages' states (and the
    /// `.deb` of each installed one) into the snapshot folder. Nothing is changed yet.
    func snapshotPackages(_ changes: [SwitchPlan.PackageChange], into folder: URL) async throws {
        guard !changes.isEmpty else { return }
        guard geteuid() == 0 else {
            throw SwitchPlan.Invalid("package changes need a gateway running as root (dpkg writes the system)")
        }
        var states: [PackageState] = []
        for (index, change) in changes.enumerated() {
            let name = try await packageName(change)
            guard !states.contains(where: { $0.name == name }) else {
                throw SwitchPlan.Invalid("package \(name) appears twice in the plan")
            }
            var state = PackageState(name: name, version: try await installedVersion(name))
            if let version = state.version {
                // Undoing a change to an installed package means installing this very version again.
                guard let archive = archive(of: name, version: version) else {
                    throw SwitchPlan.Invalid(
                        "cannot roll back \(name) \(version): no .deb of that version in \(packageArchives.joined(separator: ", "))"
                    )
                }
                let blob = "package-\(index).deb"
                try Self.write(
                    try Data(contentsOf: URL(fileURLWithPath: archive)),
                    to: folder.appendingPathComponent(blob).path,
                    mode: 0o600
                )
                state.blob = blob
            }
            states.append(state)
        }
        try Self.write(
            try JSONEncoder().encode(states),
            to: folder.appendingPathComponent("packages.json").path,
            mode: 0o600
        )
    }

    /// Makes the plan's package changes, in order; the first that fails stops (and the caller rolls back).
    func applyPackages(_ changes: [SwitchPlan.PackageChange]) async throws {
        for change in changes {
            let argv: [String] =
                switch change {
                case .install(let name, let version):
                    ["apt-get", "install", "-y", "--no-install-recommends", version.map { "\(name)=\($0)" } ?? name]
                case .deb(let path): ["dpkg", "-i", path]
                case .remove(let name): ["dpkg", "--remove", name]
                }
            try await dpkg(argv)
        }
    }

    /// Puts every package of the snapshot back as it was; returns what was restored and what could not be.
    func restorePackages(from folder: URL) async -> (restored: [String], problems: [String]) {
        let file = folder.appendingPathComponent("packages.json")
        guard FileManager.default.fileExists(atPath: file.path) else { return ([], []) }
        let states: [PackageState]
        do {
            states = try JSONDecoder().decode([PackageState].self, from: Data(contentsOf: file))
        } catch {
            return ([], ["the package snapshot cannot be read: \(error)"])
        }
        var restored: [String] = []
        var problems: [String] = []
        for state in states.reversed() {
            do {
                let now = try await installedVersion(state.name)
                if now == state.version { continue }
                if let blob = state.blob {
                    try await dpkg(["dpkg", "-i", folder.appendingPathComponent(blob).path])
                } else {
                    try await dpkg(["dpkg", "--purge", state.name])
                }
                restored.append("package \(state.name) \(state.version ?? "(absent)")")
            } catch {
                problems.append("package \(state.name): \(error)")
            }
        }
        return (restored, problems)
    }

    /// The package a change is about (a `.deb`'s own name, read from it).
    func packageName(_ change: SwitchPlan.PackageChange) async throws -> String {
        switch change {
        case .install(let name, _), .remove(let name): return name
        case .deb(let path):
            let result = try await HostTools.run(["dpkg-deb", "--field", path, "Package"], outputLimit: 4096)
            let name = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            guard result.exitCode == 0, HostTools.isPackageName(name) else {
                throw SwitchPlan.Invalid("\(path) is not a readable .deb: \(result.output.prefix(200))")
            }
            return name
        }
    }

    /// The installed version of `name`, or nil when it is not installed, from dpkg's status file (the reading the
    /// `packages` tool lists from).
    func installedVersion(_ name: String) async throws -> String? {
        try await Workspace.offload {
            let status = try String(contentsOfFile: "/var/lib/dpkg/status", encoding: .utf8)
            return HostReadings.packages(status).first { $0.name == name }?.version
        }
    }

    /// A `.deb` of exactly this version in the archives (apt's cache names them `name_version_arch.deb`, with the
    /// epoch's `:` written `%3a`).
    func archive(of name: String, version: String) -> String? {
        let prefix = "\(name)_\(version.replacingOccurrences(of: ":", with: "%3a"))_"
        for directory in packageArchives {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            if let file = entries.sorted().first(where: { $0.hasPrefix(prefix) && $0.hasSuffix(".deb") }) {
                return directory + "/" + file
            }
        }
        return nil
    }

    /// dpkg or apt, which may fetch and unpack for a while.
    func dpkg(_ argv: [String]) async throws { try await perform(argv, timeout: .seconds(600)) }
}
