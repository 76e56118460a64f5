import Foundation

/// One program a command line runs, found by peeling its wrappers: `timeout 5 env rm -rf x` runs `timeout`,
/// `env` and `rm`, and each is judged on its own by the blacklist, the danger check and the inline-code rule.
struct Invocation: Hashable, Sendable {
    var argv: [String]
    /// The `NAME=value` prefixes of the simple command it came from (the outermost program only).
    var assignments: [SimpleCommand.Assignment] = []
    /// The redirections of the simple command it came from (the outermost program only).
    var redirections: [Redirection] = []
    /// True when its words hold expansions whose value is known only at run time.
    var dynamic = false
    /// True when a wrapper appends arguments chosen at run time (`xargs`, `find -exec`).
    var fed = false

    /// The program's base name, or nil for a command of assignments or redirections only.
    var program: String? { argv.first.map { ($0 as NSString).lastPathComponent } }
    var arguments: [String] { Array(argv.dropFirst()) }
    /// True when the program itself is an expansion (`$CMD`, `$(echo rm)`, `/bin/r?`): no rule can know what runs.
    var programIsDynamic: Bool {
        guard let first = argv.first, first != "[", first != "[[" else { return false }  // test, not a glob
        return first.contains("$(…)") || first.hasPrefix("$") || first.contains(where: { "*?[".contains($0) })
    }
}

/// Why a line is refused before any single program is judged: it does not parse, nests too deeply, or is a fork bomb.
struct CommandRefusal: Error, Hashable, Sendable {
    var reason: String
}

extension CommandPolicy {
    static let shells: Set<String> = ["sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "busybox"]

    /// Every program `line` runs, wrappers and what they wrap, with `sh -c`, `eval` and `env -S` strings parsed
    /// recursively. The blacklist, the danger check and the inline-code rule all read this one list.
    static func invocations(of line: String, depth: Int = 0) throws(CommandRefusal) -> [Invocation] {
        guard depth < 8 else { throw CommandRefusal(reason: "commands nested too deeply") }
        if isForkBomb(line) { throw CommandRefusal(reason: "fork bomb") }
        let commands: [SimpleCommand]
        do {
            commands = try ShellParser.parse(line)
        } catch {
            throw CommandRefusal(reason: "cannot parse the command: \(error)")
        }
        var found: [Invocation] = []
        for command in commands {
            let outer = Invocation(
                argv: command.argv,
                assignments: command.assignments,
                redirections: command.redirections,
                dynamic: command.hasDynamicWords
            )
            try unwrap(outer, depth: depth, into: &found)
        }
        return found
    }

    static func isForkBomb(_ line: String) -> Bool {
        forkBomb.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil
    }

    /// name(){ name | name & }; name — the classic and its renamings. Compiled once: every command the policy judges
    /// is matched against it. (`try!`: a constant pattern, matched in every test of the policy.)
    static let forkBomb = try! NSRegularExpression(
        pattern: #"([A-Za-z_:][A-Za-z0-9_:]*)\s*\(\s*\)\s*\{[^}]*\1\s*\|\s*\1"#
    )

    /// Appends `invocation`, then whatever it runs in its turn.
    static func unwrap(_ invocation: Invocation, depth: Int, into found: inout [Invocation]) throws(CommandRefusal) {
        guard depth < 8 else { throw CommandRefusal(reason: "commands nested too deeply") }
        found.append(invocation)
        guard let program = invocation.program, !invocation.programIsDynamic else { return }
        let arguments = invocation.arguments
        func inner(_ argv: [String], fed: Bool = false) throws(CommandRefusal) {
            guard !argv.isEmpty else { return }
            let next = Invocation(
                argv: argv,
                dynamic: invocation.dynamic || fed,
                fed: invocation.fed || fed
            )
            try unwrap(next, depth: depth + 1, into: &found)
        }
        func line(_ text: String) throws(CommandRefusal) {
            for nested in try invocations(of: text, depth: depth + 1) {
                var nested = nested
                nested.dynamic = nested.dynamic || invocation.dynamic
                nested.fed = nested.fed || invocation.fed
                found.append(nested)
            }
        }
        switch program {
        case "env":
            let parts = envParts(arguments)
            if let split = parts.split {
                // `env -S 'rm -rf /'` splits one string into the command's words.
                var words: [String] = []
                for command in (try? ShellParser.parse(split)) ?? [] { words += command.argv }
                try inner(words + parts.command)
            } else {
                try inner(parts.command)
            }
        case "nice", "ionice":
            try inner(skipOptions(arguments, taking: ["-n", "--adjustment", "-c", "-p", "--class", "--classdata"]))
        case "timeout":
            let rest = skipOptions(arguments, taking: ["-s", "--signal", "-k", "--kill-after"])
            try inner(Array(rest.dropFirst()))  // drop the duration
        case "command" where arguments.contains("-v") || arguments.contains("-V"):
            break  // `command -v python3` asks whether it exists; it runs nothing
        case "nohup", "time", "command", "exec", "setsid", "stdbuf", "builtin", "unbuffer", "chronic":
            try inner(skipOptions(arguments, taking: ["-o", "-e", "-i", "-a", "--output", "--error", "--input"]))
        case "taskset", "chrt":
            // A mask or a priority comes before the command.
            try inner(Array(skipOptions(arguments, taking: ["-p", "--pid"]).dropFirst()))
        case "flock":
            let rest = skipOptions(arguments, taking: ["-w", "--timeout", "-E", "--conflict-exit-code"])
            if rest.count >= 3, ["-c", "--command"].contains(rest[1]) {
                try line(rest[2])
            } else {
                try inner(Array(rest.dropFirst()))  // drop the lock file
            }
        case "watch":
            // watch runs its arguments, joined, through `sh -c`.
            let rest = skipOptions(arguments, taking: ["-n", "--interval", "-d", "-q", "--equexit"])
            try line(rest.joined(separator: " "))
        case "eval":
            try line(arguments.joined(separator: " "))
        case "script":
            // util-linux script runs its -c string through a shell.
            if let flag = arguments.firstIndex(where: {
                $0 == "--command" || ($0.hasPrefix("-") && !$0.hasPrefix("--") && $0.hasSuffix("c"))
            }), flag + 1 < arguments.count {
                try line(arguments[flag + 1])
            }
        case "parallel":
            let rest = skipOptions(arguments, taking: ["-j", "--jobs", "-S", "--sshlogin", "-a", "--arg-file"])
            try inner(Array(rest.prefix { !$0.hasPrefix(":::") }), fed: true)
        case "xargs":
            let rest = skipOptions(
                arguments,
                taking: ["-n", "-I", "-P", "-L", "-s", "-d", "-E", "-a", "--max-args", "--max-procs", "--delimiter"]
            )
            try inner(rest.isEmpty ? ["echo"] : rest, fed: true)
        case "find":
            var index = 0
            while index < arguments.count {
                if ["-exec", "-execdir", "-ok", "-okdir"].contains(arguments[index]) {
                    let command = arguments[(index + 1)...].prefix { $0 != ";" && $0 != "+" }
                    try inner(Array(command), fed: true)
                    index += command.count
                }
                index += 1
            }
        case "busybox":
            try inner(arguments)
        case _ where shells.contains(program):
            if case .command(let text) = shellSource(arguments) { try line(text) }
        default:
            break
        }
    }

    /// `env`'s arguments split into the variables it sets, a `-S` string, and the command it runs.
    static func envParts(_ arguments: [String]) -> (variables: [String], split: String?, command: [String]) {
        var rest = arguments[...]
        var variables: [String] = []
        var split: String?
        while let next = rest.first {
            if next == "-S" || next == "--split-string" {
                split = rest.dropFirst().first ?? ""
                rest = rest.dropFirst(2)
                break
            } else if next.hasPrefix("--split-string=") {
                split = String(next.dropFirst("--split-string=".count))
                rest = rest.dropFirst()
                break
            } else if next.hasPrefix("-S") {
                split = String(next.dropFirst(2))
                rest = rest.dropFirst()
                break
            } else if next == "-u" || next == "-C" || next == "--unset" || next == "--chdir" {
                rest = rest.dropFirst(2)
            } else if next.hasPrefix("-") {
                rest = rest.dropFirst()
            } else if next.firstIndex(of: "=") != nil, next.first != "=" {
                variables.append(next)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        return (variables, split, Array(rest))
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
