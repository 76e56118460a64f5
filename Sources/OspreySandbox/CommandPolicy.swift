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
    static let shells: Set<String> = ["sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"]
    static let interpreters: [String: Set<String>] = [
        "python": ["-c"], "python3": ["-c"], "python2": ["-c"], "node": ["-e", "--eval", "-p", "--print"],
        "nodejs": ["-e", "--eval"],
        "perl": ["-e", "-E"], "ruby": ["-e"], "php": ["-r"], "lua": ["-e"], "osascript": ["-e"],
    ]
    static let rcFiles: Set<String> = [
        ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zprofile", ".zshenv",
        ".zlogin",
        ".inputrc", ".kshrc", ".cshrc", ".tcshrc",
    ]

    public func evaluate(_ line: String) -> CommandDecision {
        evaluate(line, depth: 0)
    }

    /// The programs a line runs (the first word of each command, as a base name) and, if one of them is
    /// dangerous even inside the sandbox (deleting recursively, force-pushing, killing), why.
    public func inventory(_ line: String) -> (programs: [String], dangerous: String?) {
        guard let commands = try? ShellParser.parse(line) else { return ([], nil) }
        var programs: [String] = []
        var dangerous: String?
        for command in commands {
            guard let first = command.argv.first else { continue }
            let program = (first as NSString).lastPathComponent
            if !programs.contains(program) { programs.append(program) }
            let arguments = command.argv.dropFirst()
            let flags = arguments.filter { $0.hasPrefix("-") && !$0.hasPrefix("--") }.joined()
            switch program {
            case "rm"
            where flags.contains("r") || flags.contains("R") || flags.contains("f")
                || arguments.contains("--recursive"):
                dangerous = dangerous ?? "rm -r/-f deletes without recovery"
            case "git"
            where arguments.contains("push") || arguments.contains("clean")
                || (arguments.contains("reset") && arguments.contains("--hard")):
                dangerous = dangerous ?? "git \(arguments.first ?? "") changes or discards history"
            case "kill", "pkill", "killall", "shred", "chmod", "chown", "crontab", "systemctl", "ssh", "scp":
                dangerous = dangerous ?? "\(program) is dangerous"
            default:
                break
            }
        }
        return (programs, dangerous)
    }

    func evaluate(_ line: String, depth: Int) -> CommandDecision {
        guard depth < 8 else { return .deny("commands nested too deeply") }
        if Self.isForkBomb(line) { return .deny("fork bomb") }
        let commands: [SimpleCommand]
        do {
            commands = try ShellParser.parse(line)
        } catch {
            return .deny("cannot parse the command: \(error)")
        }
        var approval: String?
        for command in commands {
            switch check(command, depth: depth) {
            case .deny(let reason): return .deny(reason)
            case .needsApproval(let reason): approval = approval ?? reason
            case .allow: break
            }
        }
        return approval.map(CommandDecision.needsApproval) ?? .allow
    }

    static func isForkBomb(_ line: String) -> Bool {
        // name(){ name | name & }; name — the classic and its renamings.
        line.range(of: #"([A-Za-z_:][A-Za-z0-9_:]*)\s*\(\s*\)\s*\{[^}]*\1\s*\|\s*\1"#, options: .regularExpression)
            != nil
    }

    func check(_ command: SimpleCommand, depth: Int) -> CommandDecision {
        for assignment in command.assignments where Self.forbiddenVariables.contains(assignment.name) {
            return .deny("commands may not set \(assignment.name)")
        }
        for redirection in command.redirections where redirection.kind == .write || redirection.kind == .append {
            if let reason = protectedWrite(redirection.target) { return .deny(reason) }
        }
        return check(argv: command.argv, dynamic: command.hasDynamicWords, depth: depth)
    }

    func check(argv: [String], dynamic: Bool, depth: Int) -> CommandDecision {
        guard let first = argv.first else { return .allow }
        if first.contains("$(…)") || first.hasPrefix("$") { return .deny("the program to run is decided at run time") }
        let program = (first as NSString).lastPathComponent
        let arguments = Array(argv.dropFirst())
        if Self.privilege.contains(program) { return .deny("\(program) is not allowed") }
        if Self.destroyers.contains(program) || program.hasPrefix("mkfs.") { return .deny("\(program) is not allowed") }
        switch program {
        case "env":
            var rest = arguments[...]
            while let next = rest.first {
                if next == "-u" || next == "-C" || next == "--unset" || next == "--chdir" {
                    rest = rest.dropFirst(2)
                } else if next.hasPrefix("-") {
                    rest = rest.dropFirst()
                } else if let equals = next.firstIndex(of: "="), next.first != "=" {
                    let name = String(next[..<equals])
                    if Self.forbiddenVariables.contains(name) { return .deny("commands may not set \(name)") }
                    rest = rest.dropFirst()
                } else {
                    break
                }
            }
            return check(argv: Array(rest), dynamic: dynamic, depth: depth + 1)
        case "nice", "ionice":
            return check(
                argv: Self.skipOptions(arguments, taking: ["-n", "--adjustment", "-c", "-p"]),
                dynamic: dynamic,
                depth: depth + 1
            )
        case "timeout":
            let rest = Self.skipOptions(arguments, taking: ["-s", "--signal", "-k", "--kill-after"])
            return check(argv: Array(rest.dropFirst()), dynamic: dynamic, depth: depth + 1)  // drop the duration
        case "nohup", "time", "command", "exec", "setsid", "stdbuf", "builtin":
            return check(
                argv: Self.skipOptions(arguments, taking: ["-o", "-e", "-i"]),
                dynamic: dynamic,
                depth: depth + 1
            )
        case "xargs":
            let rest = Self.skipOptions(
                arguments,
                taking: ["-n", "-I", "-P", "-L", "-s", "-d", "-E", "-a", "--max-args", "--max-procs"]
            )
            return check(argv: rest.isEmpty ? ["echo"] : rest, dynamic: true, depth: depth + 1)
        case "find":
            var index = 0
            while index < arguments.count {
                if ["-exec", "-execdir", "-ok", "-okdir"].contains(arguments[index]) {
                    let inner = arguments[(index + 1)...].prefix { $0 != ";" && $0 != "+" }
                    let decision = check(argv: Array(inner), dynamic: true, depth: depth + 1)
                    if decision != .allow { return decision }
                    index += inner.count + 1
                }
                if arguments[index...].first == "-delete",
                    arguments.first.map({ ["/", "~", "/*"].contains($0) }) == true
                {
                    return .deny("find -delete on \(arguments[0]) is not allowed")
                }
                index += 1
            }
            return .allow
        default:
            break
        }
        if Self.shells.contains(program) {
            let rest = program == "busybox" ? Array(arguments.dropFirst()) : arguments
            if program == "busybox", let applet = arguments.first {
                return check(argv: [applet] + rest, dynamic: dynamic, depth: depth + 1)
            }
            if let flag = rest.firstIndex(where: { $0.hasPrefix("-") && $0.contains("c") && !$0.hasPrefix("--") }),
                flag + 1 < rest.count
            {
                return evaluate(rest[flag + 1], depth: depth + 1)
            }
            return .allow
        }
        let interpreter = program.trimmingCharacters(in: CharacterSet(charactersIn: "0123456789."))
        if let flags = Self.interpreters[interpreter] ?? Self.interpreters[program],
            arguments.contains(where: { argument in
                // `-c code` and the glued form `-ccode`.
                flags.contains(argument)
                    || flags.contains { argument.hasPrefix($0) && $0.count == 2 && argument.count > 2 }
            })
        {
            return .needsApproval("\(program) with inline code needs approval")
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

    static func skipOptions(_ arguments: [String], taking: Set<String>) -> [String] {
        var rest = arguments[...]
        while let next = rest.first, next.hasPrefix("-") {
            if next == "--" {
                rest = rest.dropFirst()
                break
            }
            rest = rest.dropFirst(taking.contains(next) ? 2 : 1)
        }
        return Array(rest)
    }
}
