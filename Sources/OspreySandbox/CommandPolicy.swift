import Foundation

/// What policy says about a command line.
public enum CommandDecision: Hashable, Sendable {
    case allow
    /// Allowed only with a human's approval (inline interpreter code, for instance).
    case needsApproval(String)
    /// Never run, whatever the approval mode.
    case deny(String)
}

/// Checks every command a shell line would run, through wrappers (`env`, `sh -c`, `xargs`, `find -exec`,
/// `nice`, `timeout`, …), against a blacklist no mode bypasses and the environment a model may not set.
public struct CommandPolicy: Sendable {
    /// Files and directories no command may write: Osprey's own config, token, database and secrets.
    public var protectedPaths: [String]

    public init(protectedPaths: [String] = []) { self.protectedPaths = protectedPaths }

    static let forbiddenVariables: Set<String> = [
        "PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "BASH_ENV", "ENV", "IFS", "SHELLOPTS", "PS4",
        "PROMPT_COMMAND",
        "PYTHONPATH", "PYTHONSTARTUP", "NODE_OPTIONS", "PERL5LIB", "PERL5OPT", "RUBYOPT", "GIT_SSH_COMMAND",
        "GIT_EXEC_PATH",
        "HOME",
    ]
    static let privilege: Set<String> = [
        "sudo", "su", "doas", "pkexec", "chroot", "nsenter", "unshare", "setcap", "mount", "umount",
    ]
    static let destroyers: Set<String> = [
        "mkfs", "mke2fs", "mkswap", "wipefs", "fdisk", "sfdisk", "parted", "shutdown", "reboot", "halt", "poweroff",
        "init", "telinit",
    ]
    static let rcFiles: Set<String> = [
        ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zprofile", ".zshenv",
        ".zlogin",
        ".inputrc", ".kshrc", ".cshrc", ".tcshrc",
    ]

    /// Judges every program the line runs, wrappers and what they wrap: the first refusal wins, else the first
    /// reason to ask a human.
    public func evaluate(_ line: String) -> CommandDecision {
        let invocations: [Invocation]
        do {
            invocations = try Self.invocations(of: line)
        } catch {
            return .deny(error.reason)
        }
        let movesDirectory = invocations.contains { $0.program == "cd" || $0.program == "pushd" }
        var approval: String?
        for invocation in invocations {
            switch check(invocation) {
            case .deny(let reason): return .deny(reason)
            case .needsApproval(let reason): approval = approval ?? reason
            case .allow: break
            }
            if let reason = Self.inlineCode(invocation, movesDirectory: movesDirectory) {
                approval = approval ?? reason
            }
        }
        return approval.map(CommandDecision.needsApproval) ?? .allow
    }

    /// The programs a line runs (each as a base name, wrappers and what they wrap) and, if one of them is
    /// dangerous even inside the sandbox (deleting recursively or in bulk, force-pushing, killing), why.
    public func inventory(_ line: String) -> (programs: [String], dangerous: String?) {
        guard let invocations = try? Self.invocations(of: line) else { return ([], nil) }
        var programs: [String] = []
        var dangerous: String?
        for invocation in invocations {
            guard let program = invocation.program else { continue }
            if !programs.contains(program) { programs.append(program) }
            dangerous = dangerous ?? Self.danger(of: invocation)
        }
        return (programs, dangerous)
    }

    /// Why `invocation` is dangerous even inside the sandbox, or nil.
    static func danger(of invocation: Invocation) -> String? {
        guard let program = invocation.program else { return nil }
        let arguments = invocation.arguments
        let flags = arguments.filter { $0.hasPrefix("-") && !$0.hasPrefix("--") }.joined()
        switch program {
        case "rm"
        where flags.contains("r") || flags.contains("R") || flags.contains("f")
            || arguments.contains("--recursive") || arguments.contains("--force"):
            return "rm -r/-f deletes without recovery"
        case _ where invocation.fed && ["rm", "unlink", "rmdir", "shred"].contains(program):
            return "\(program) on files chosen at run time (xargs, find -exec) deletes without recovery"
        case "find" where arguments.contains("-delete"):
            return "find -delete deletes without recovery"
        case "rsync" where arguments.contains { $0.hasPrefix("--delete") || $0.hasPrefix("--remove-source") }:
            return "rsync --delete deletes without recovery"
        case "git"
        where arguments.contains("push") || arguments.contains("clean")
            || (arguments.contains("reset") && arguments.contains("--hard")):
            return "git \(arguments.first ?? "") changes or discards history"
        case "kill", "pkill", "killall", "shred", "chmod", "chown", "crontab", "systemctl", "ssh", "scp":
            return "\(program) is dangerous"
        default:
            return nil
        }
    }

    /// The blacklist for one program: what no approval mode may run.
    func check(_ invocation: Invocation) -> CommandDecision {
        for assignment in invocation.assignments where Self.forbiddenVariables.contains(assignment.name) {
            return .deny("commands may not set \(assignment.name)")
        }
        for redirection in invocation.redirections where redirection.kind == .write || redirection.kind == .append {
            if let reason = protectedWrite(redirection.target) { return .deny(reason) }
        }
        guard let program = invocation.program else { return .allow }
        if invocation.programIsDynamic { return .deny("the program to run is decided at run time") }
        let arguments = invocation.arguments
        if Self.privilege.contains(program) { return .deny("\(program) is not allowed") }
        if Self.destroyers.contains(program) || program.hasPrefix("mkfs.") { return .deny("\(program) is not allowed") }
        switch program {
        case "env":
            for variable in Self.envParts(arguments).variables {
                let name = String(variable.prefix { $0 != "=" })
                if Self.forbiddenVariables.contains(name) { return .deny("commands may not set \(name)") }
            }
        case "find":
            if arguments.contains("-delete"), arguments.first.map({ ["/", "~", "/*"].contains($0) }) == true {
                return .deny("find -delete on \(arguments[0]) is not allowed")
            }
        default:
            break
        }
        switch program {
        case "rm":
            let flags = arguments.filter { $0.hasPrefix("-") }.joined()
            let recursive = flags.contains("r") || flags.contains("R") || arguments.contains("--recursive")
            if arguments.contains("--no-preserve-root") { return .deny("rm --no-preserve-root is not allowed") }
            let targets = arguments.filter { !$0.hasPrefix("-") }
            let dangerous = [
                "/", "/*", "~", "~/", "~/*", "$HOME", "${HOME}", "$HOME/", "$HOME/*", "${HOME}/*", ".", "..", "/home",
                "/root", "/etc", "/usr", "/var", "/boot", "/bin", "/lib",
            ]
            if recursive, let target = targets.first(where: { dangerous.contains($0) }) {
                return .deny("rm -r \(target) is not allowed")
            }
        case "dd":
            if let output = arguments.first(where: { $0.hasPrefix("of=") }), output.dropFirst(3).hasPrefix("/dev/") {
                return .deny("dd onto a device is not allowed")
            }
        case "chmod", "chown", "chgrp":
            let recursive = arguments.contains { $0.hasPrefix("-") && ($0.contains("R") || $0 == "--recursive") }
            let targets = arguments.filter { !$0.hasPrefix("-") }.dropFirst()
            if targets.contains(where: { ["/", "/*", "~", "$HOME", "/etc", "/usr"].contains($0) })
                && (recursive || arguments.contains("777"))
            {
                return .deny("\(program) on the system root or home is not allowed")
            }
        case "git":
            if arguments.first == "push" || arguments.contains("push") {
                if arguments.contains(where: {
                    $0 == "-f" || $0 == "--force" || $0.hasPrefix("--force-with-lease") || $0 == "--mirror"
                })
                    || arguments.contains(where: { $0.hasPrefix("+") })
                {
                    return .deny("git push --force is not allowed")
                }
            }
            if arguments.contains(where: { $0.contains("core.hooksPath") }) {
                return .deny("changing git hooks is not allowed")
            }
        case "tee", "cp", "mv", "install", "ln", "touch", "truncate", "rsync":
            let targets =
                program == "tee" || program == "touch" || program == "truncate"
                ? arguments.filter { !$0.hasPrefix("-") } : Array(arguments.filter { !$0.hasPrefix("-") }.suffix(1))
            for target in targets {
                if let reason = protectedWrite(target) { return .deny(reason) }
            }
        case "sed", "perl":
            if arguments.contains(where: { $0.hasPrefix("-i") }) {
                for target in arguments.filter({ !$0.hasPrefix("-") }) {
                    if let reason = protectedWrite(target) { return .deny(reason) }
                }
            }
        default:
            break
        }
        return .allow
    }

    /// Why writing `path` is refused, or nil: git hooks, shell start-up files, Osprey's own files.
    public func protectedWrite(_ path: String) -> String? {
        let components = path.split(separator: "/").map(String.init)
        if path.contains(".git/hooks") || (components.contains(".git") && components.last == "config") {
            return "writing git hooks or git config is not allowed"
        }
        if let name = components.last, Self.rcFiles.contains(name) {
            return "writing shell start-up files is not allowed"
        }
        for protected in protectedPaths where path == protected || path.hasPrefix(protected + "/") {
            return "writing Osprey's own files is not allowed"
        }
        if path.contains(".osprey/")
            && (path.hasSuffix("config.toml") || path.hasSuffix("/token") || path.contains("/secrets"))
        {
            return "writing Osprey's own files is not allowed"
        }
        return nil
    }
}
