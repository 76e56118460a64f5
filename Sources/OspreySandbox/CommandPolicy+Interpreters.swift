import Foundation

/// Where an interpreter or a shell reads the program it runs.
enum ProgramSource: Hashable, Sendable {
    /// Code on the command line: `python3 -c`, `perl -e`, `node -pe`, `sh -c` (whose string is parsed as commands).
    case command(String)
    /// A program file named on the command line.
    case file(String)
    /// Standard input: no program operand, `-`, `-s`, a pipe, a heredoc, `< file`.
    case standardInput
    /// Nothing read from a file or the line: an installed module (`python3 -m pip`), a version or help query.
    case installed
}

/// How one interpreter's command line names its program.
struct InterpreterSyntax: Sendable {
    /// Short flags that put the program on the command line (`-c`, `-e`); glued into clusters too (`-Ic`).
    var inline: Set<Character>
    /// Short flags whose value is the rest of the word, or the next word when nothing is glued.
    var valued: Set<Character> = []
    /// Short flags whose value is only the rest of the word (`perl -Mstrict`, `-i.bak`).
    var gluedValue: Set<Character> = []
    /// Short flags followed by optional digits only (`perl -l0`, `-0777`).
    var digits: Set<Character> = []
    /// Short flags that run an installed module instead of a file (`python3 -m`).
    var module: Set<Character> = []
    /// A short flag whose value is the program file (`php -f file`).
    var file: Set<Character> = []
    /// Long options that put the program on the command line (`--eval`, `--print`).
    var inlineLong: Set<String> = []
    /// Long options that take the next word as their value.
    var valuedLong: Set<String> = []
    /// Arguments that make it print something and exit without reading a program.
    var queries: Set<String> = ["--version", "--help"]
}

extension CommandPolicy {
    static let interpreters: [String: InterpreterSyntax] = {
        let python = InterpreterSyntax(
            inline: ["c"],
            valued: ["W", "X"],
            module: ["m"],
            valuedLong: ["--check-hash-based-pycs"],
            queries: ["--version", "--help", "-V", "-h"]
        )
        let node = InterpreterSyntax(
            inline: ["e", "p"],
            valued: ["r", "C"],
            inlineLong: ["--eval", "--print"],
            valuedLong: ["--require", "--import", "--loader", "--experimental-loader", "--conditions", "--input-type"],
            queries: ["--version", "--help", "-v", "-h"]
        )
        let perl = InterpreterSyntax(
            inline: ["e", "E"],
            valued: ["I"],
            gluedValue: ["C", "d", "D", "F", "i", "m", "M", "x"],
            digits: ["0", "l"],
            queries: ["--version", "--help", "-v", "-V", "-h"]
        )
        let ruby = InterpreterSyntax(
            inline: ["e"],
            valued: ["C", "E", "I", "r"],
            gluedValue: ["F", "i", "K", "T", "W", "x"],
            digits: ["0"],
            queries: ["--version", "--help", "-h"]
        )
        let php = InterpreterSyntax(
            inline: ["r", "B", "R", "E"],
            valued: ["c", "d", "z", "t"],
            file: ["f"],
            queries: ["--version", "--help", "-v", "-h", "-i", "-m"]
        )
        let lua = InterpreterSyntax(inline: ["e"], valued: ["l"], queries: ["-v", "--version", "--help"])
        return [
            "python": python, "python3": python, "python2": python, "pypy": python, "pypy3": python,
            "node": node, "nodejs": node, "perl": perl, "ruby": ruby, "php": php, "lua": lua, "luajit": lua,
            "osascript": InterpreterSyntax(inline: ["e"]),
        ]
    }()

    /// The syntax of `program` when it is an interpreter; version suffixes are ignored (`python3.12`, `lua5.4`).
    static func interpreterSyntax(_ program: String) -> InterpreterSyntax? {
        interpreters[program]
            ?? interpreters[program.trimmingCharacters(in: CharacterSet(charactersIn: "0123456789.-"))]
    }

    /// Where an interpreter with `syntax` reads its program, from its arguments (options stop at the first operand).
    static func programSource(_ arguments: [String], syntax: InterpreterSyntax) -> ProgramSource {
        if arguments.contains(where: syntax.queries.contains) { return .installed }
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "-" { return .standardInput }
            if argument == "--" { return index < arguments.count ? .file(arguments[index]) : .standardInput }
            if argument.hasPrefix("--") {
                let name = String(argument.prefix { $0 != "=" })
                if syntax.inlineLong.contains(name) { return .command(argument) }
                if syntax.valuedLong.contains(name) && !argument.contains("=") { index += 1 }
                continue
            }
            guard argument.hasPrefix("-"), argument.count > 1 else { return .file(argument) }
            var flags = argument.dropFirst()[...]
            while let flag = flags.first {
                flags = flags.dropFirst()
                if syntax.inline.contains(flag) { return .command(argument) }
                if syntax.module.contains(flag) { return .installed }
                if syntax.file.contains(flag) {
                    if !flags.isEmpty { return .file(String(flags)) }
                    return index < arguments.count ? .file(arguments[index]) : .standardInput
                }
                if syntax.digits.contains(flag) {
                    flags = flags.drop { $0.isNumber }
                } else if syntax.gluedValue.contains(flag) {
                    break
                } else if syntax.valued.contains(flag) {
                    if flags.isEmpty { index += 1 }
                    break
                }
            }
        }
        return .standardInput
    }

    /// Where a shell reads its commands: the `-c` string, a script operand, or standard input.
    static func shellSource(_ arguments: [String]) -> ProgramSource {
        var index = 0
        var command = false
        var standardInput = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "-" {
                standardInput = true
                break
            }
            if argument == "--" { break }
            if argument.hasPrefix("--") {
                if ["--rcfile", "--init-file"].contains(argument) { index += 1 }
                continue
            }
            guard argument.hasPrefix("-") || argument.hasPrefix("+"), argument.count > 1 else {
                index -= 1
                break
            }
            for flag in argument.dropFirst() {
                if flag == "c" { command = true }
                if flag == "s" { standardInput = true }
                if flag == "o" || flag == "O" { index += 1 }
            }
        }
        let operand = index < arguments.count ? arguments[index] : nil
        if command { return operand.map(ProgramSource.command) ?? .installed }
        if standardInput { return .standardInput }
        return operand.map(ProgramSource.file) ?? .standardInput
    }

    /// Why running `invocation` needs a human: an interpreter or shell that reads its program from the command
    /// line, from standard input, or from a file that is not known to be in the workspace.
    ///
    /// A relative path without `..` is in the workspace, where commands start, unless the line changes directory.
    static func inlineCode(_ invocation: Invocation, movesDirectory: Bool) -> String? {
        guard let program = invocation.program else { return nil }
        let source: ProgramSource
        if shells.contains(program) && program != "busybox" {
            source = shellSource(invocation.arguments)
            if case .command = source { return nil }  // the string was parsed and every command in it judged
        } else if program == "." || program == "source" {
            source = invocation.arguments.first.map(ProgramSource.file) ?? .standardInput
        } else if let syntax = interpreterSyntax(program) {
            source = programSource(invocation.arguments, syntax: syntax)
        } else {
            return nil
        }
        switch source {
        case .installed:
            return nil
        case .command:
            return "\(program) with inline code needs approval"
        case .standardInput:
            return "\(program) reading its program from standard input is inline code and needs approval"
        case .file(let path):
            let components = path.split(separator: "/")
            let inWorkspace =
                !path.hasPrefix("/") && !path.hasPrefix("~") && !components.contains("..") && !movesDirectory
                && !path.contains(where: { "$*?[{".contains($0) })
            return inWorkspace
                ? nil : "\(program) running \(path), which is not known to be a file in the workspace, needs approval"
        }
    }
}
