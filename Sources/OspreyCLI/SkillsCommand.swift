import ArgumentParser
import Foundation
import OspreyCore
import OspreyTools

/// `osprey skills`: the skills agents can load, and why any cannot.
struct SkillsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skills",
        abstract: "Skills (SKILL.md) in the home and the workspace: which agents can load, and why others cannot.",
        subcommands: [List.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every skill, its source and its state.")
        @OptionGroup var options: HomeOptions

        func run() async throws {
            let home = options.resolved
            let catalog = SkillCatalog.load(
                home: home.skillsDirectory,
                workspace: home.workspaceDirectory.appendingPathComponent("skills")
            )
            if catalog.skills.isEmpty && catalog.failures.isEmpty { print("no skills in \(home.skillsDirectory.path)") }
            for skill in catalog.skills {
                let source = skill.trusted ? "home" : "workspace (untrusted)"
                let state = skill.unavailable.map { "unavailable: \($0)" } ?? "available"
                print("\(skill.name)  \(state)  \(source)  \(skill.description)")
            }
            for (path, reason) in catalog.failures.sorted(by: { $0.key < $1.key }) {
                print("\(path)  invalid: \(reason)")
            }
        }
    }
}
