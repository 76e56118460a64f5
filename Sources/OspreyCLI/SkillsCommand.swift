import ArgumentParser
import Foundation
import OspreyCore
import OspreyPlugins
import OspreyTools

/// `osprey skills`: the skills agents can load, and why any cannot.
struct SkillsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skills",
        abstract: "Skills (SKILL.md) in the home and the workspace: list them, install, sign and remove packages.",
        subcommands: [List.self, Install.self, Sign.self, Remove.self]
    )

    /// Every file of a skill folder (SKILL.md, workflow.toml, scripts/, references/), by relative path; hidden files
    /// and folders (`.history`, `.publisher`) stay behind.
    static func files(of folder: URL) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        var total = 0
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey])
        else { throw CLIError("cannot read \(folder.path)") }
        for case let url as URL in walker {
            let relative = String(url.standardizedFileURL.path.dropFirst(folder.standardizedFileURL.path.count + 1))
            if relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }) {
                walker.skipDescendants()
                continue
            }
            guard (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true else { continue }
            let data = try Data(contentsOf: url)
            total += data.count
            guard total <= PluginPackage.maxBytes else { throw CLIError("the skill is larger than 64 MiB") }
            files[relative] = [UInt8](data)
        }
        guard files["SKILL.md"] != nil else { throw CLIError("\(folder.path) has no SKILL.md") }
        return files
    }

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Install a skill from a signed package (.ospkg) or a folder into the home's skills.",
            discussion: """
                A package is verified whole before anything is written (its signature against [plugins] publishers, \
                every file's SHA-256, every entry a plain relative file). The skill is then loaded from a staging \
                folder: its SKILL.md and workflow.toml must be valid, and the static scan of its scripts and \
                workflow commands must find nothing, or nothing is installed. An unsigned package or a folder \
                installs only with --allow-unsigned, and then counts as untrusted content, like a workspace skill.
                """
        )
        @OptionGroup var install: PackageInstall

        func run() async throws {
            let (files, publisher) = try install.read(sign: "osprey skills sign", folder: SkillsCommand.files(of:))
            let skills = install.options.resolved.skillsDirectory
            try FileManager.default.createDirectory(at: skills, withIntermediateDirectories: true)
            let staging = skills.appendingPathComponent(".staging-\(getpid())")
            defer { try? FileManager.default.removeItem(at: staging) }
            for (relative, bytes) in files {
                let target = staging.appendingPathComponent(relative)
                try FileManager.default.createDirectory(
                    at: target.deletingLastPathComponent(),
                    withIntermediateDirectories: true
                )
                try Data(bytes).write(to: target)
            }
            // What is kept is what was checked: the front matter, the workflow, the scan.
            let front = try String(contentsOf: staging.appendingPathComponent("SKILL.md"), encoding: .utf8)
            guard let name = front.firstMatch(of: /(?m)^name:\s*([a-z0-9][a-z0-9_-]{0,63})\s*$/)?.output.1 else {
                throw CLIError("package refused: SKILL.md has no valid name")
            }
            let named = skills.appendingPathComponent(".staging-\(getpid())-\(name)")
            try FileManager.default.createDirectory(at: named, withIntermediateDirectories: true)
            let checked = named.appendingPathComponent(String(name))
            try FileManager.default.moveItem(at: staging, to: checked)
            defer { try? FileManager.default.removeItem(at: named) }
            let catalog = SkillCatalog.load(home: named, workspace: nil)
            if let failure = catalog.failures.values.first { throw CLIError("skill refused: \(failure)") }
            guard let skill = catalog.skills.first else { throw CLIError("skill refused: no skill in the package") }
            guard skill.findings.isEmpty else {
                throw CLIError("skill refused by the scan:\n  " + skill.findings.joined(separator: "\n  "))
            }
            let target = skills.appendingPathComponent(skill.name)
            try install.mayInstall("skill", named: skill.name, at: target)
            if let publisher {
                try Data(publisher.utf8).write(to: checked.appendingPathComponent(Plugins.publisherFile))
            } else {
                try Data().write(to: checked.appendingPathComponent(SkillCatalog.unsignedMarker))
            }
            try install.place(checked, at: target)
            let how = publisher.map { "signed by \($0.prefix(16))…" } ?? "unsigned: its content is untrusted"
            print("installed skill \(skill.name) (\(how)) in \(target.path)")
            if let workflow = skill.workflow {
                print("workflow: \(workflow.steps.map(\.name).joined(separator: " → "))")
            }
        }
    }

    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign",
            abstract: "Pack a skill folder into a signed package (.ospkg), with the key of osprey plugins keygen."
        )
        @Argument(help: "The skill's folder.") var folder: String
        @Option(help: "The private key file (osprey plugins keygen).") var key: String
        @Option(help: "The package to write.") var out: String

        func run() async throws {
            let source = URL(fileURLWithPath: folder)
            // Only a skill that loads and passes the scan is signed.
            let skill = try Skill(directory: source, trusted: true)
            let findings = Skill.scan(source, workflow: skill.workflow)
            guard findings.isEmpty else {
                throw CLIError("the scan refuses this skill:\n  " + findings.joined(separator: "\n  "))
            }
            let privateKey = try String(contentsOf: URL(fileURLWithPath: key), encoding: .utf8)
            let package = try PluginPackage.pack(try SkillsCommand.files(of: source), privateKey: privateKey)
            try Data(package).write(to: URL(fileURLWithPath: out))
            print("signed skill \(skill.name) → \(out) (publisher \(try PluginPackage.publicKey(of: privateKey)))")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Remove a skill from the home's skills."
        )
        @OptionGroup var options: HomeOptions
        @Argument(help: "The skill's name.") var name: String

        func run() async throws {
            guard name.wholeMatch(of: /[a-z0-9][a-z0-9_-]{0,63}/) != nil else {
                throw CLIError("'\(name)' is not a skill name")
            }
            let target = options.resolved.skillsDirectory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: target.appendingPathComponent("SKILL.md").path) else {
                throw CLIError("no skill named '\(name)' in \(options.resolved.skillsDirectory.path)")
            }
            try FileManager.default.removeItem(at: target)
            print("removed skill \(name)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Every skill, its source and its state."
        )
        @OptionGroup var options: HomeOptions

        func run() async throws {
            let home = options.resolved
            let catalog = SkillCatalog.load(
                home: home.skillsDirectory,
                workspace: home.workspaceDirectory.appendingPathComponent("skills")
            )
            if catalog.skills.isEmpty && catalog.failures.isEmpty { print("no skills in \(home.skillsDirectory.path)") }
            for skill in catalog.skills {
                let inHome =
                    skill.directory.deletingLastPathComponent().standardizedFileURL.path
                    == home.skillsDirectory.standardizedFileURL.path
                let source = inHome ? (skill.trusted ? "home" : "home, unsigned (untrusted)") : "workspace (untrusted)"
                let state = skill.unavailable.map { "unavailable: \($0)" } ?? "available"
                print("\(skill.name)  \(state)  \(source)  \(skill.description)")
            }
            for (path, reason) in catalog.failures.sorted(by: { $0.key < $1.key }) {
                print("\(path)  invalid: \(reason)")
            }
        }
    }
}
