/// One simple command of a shell command line: its environment assignments, words and redirections.
public struct SimpleCommand: Hashable, Sendable {
    /// A `NAME=value` prefix.
    public struct Assignment: Hashable, Sendable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// `NAME=value` prefixes, in order.
    public var assignments: [Assignment] = []
    /// The words after quote removal; `argv[0]` is the program.
    public var argv: [String] = []
    /// Redirection targets (files written or read), after quote removal.
    public var redirections: [Redirection] = []
    /// True when a word held an expansion (`$VAR`, `$(…)`, backticks, globs) whose value is only known at run time.
    public var hasDynamicWords = false

    public init(argv: [String] = []) { self.argv = argv }
}

/// A redirection: `> file`, `>> file`, `< file`, `2> file`, `&> file`, `n>&m`.
public struct Redirection: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        case write, append, read, duplicate, heredoc
    }
    public var kind: Kind
    public var target: String
}

/// Why a command line could not be parsed (unbalanced quotes, an unterminated `$(`); such lines are refused.
public struct ShellParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
}

/// Parses a POSIX shell command line into every simple command it would run, including those inside
/// `$(…)`, backticks, subshells and `{ …; }` groups, and across `;`, `&&`, `||`, `|`, `&` and newlines.
///
/// It does not run or expand anything: words that depend on expansions are marked dynamic, so policy can
/// refuse a program name it cannot know. Heredoc bodies are data, not commands.
public enum ShellParser {
    public static func parse(_ line: String) throws -> [SimpleCommand] {
        var scanner = Scanner(Array(line.unicodeScalars))
        var commands: [SimpleCommand] = []
        try scanner.parseList(into: &commands, until: nil)
        return commands
    }

    struct Scanner {
        let characters: [Unicode.Scalar]
        var index = 0
        var pendingHeredocs: [(delimiter: String, strip: Bool)] = []
        /// Inside `` `…` ``, a backtick ends the inner command rather than starting a new one.
        var backtickDepth = 0

        init(_ characters: [Unicode.Scalar]) { self.characters = characters }

        var current: Unicode.Scalar? { index < characters.count ? characters[index] : nil }
        func peek(_ offset: Int) -> Unicode.Scalar? {
            index + offset < characters.count ? characters[index + offset] : nil
        }

        static let operatorStarts: Set<Unicode.Scalar> = [";", "&", "|", "(", ")", "<", ">", "\n"]

        /// Parses commands until `terminator` (`)` for `$(` and subshells, "`" for backticks) or the end.
        mutating func parseList(into commands: inout [SimpleCommand], until terminator: Unicode.Scalar?) throws {
            var command = SimpleCommand()
            func flush() {
                if !command.argv.isEmpty || !command.assignments.isEmpty || !command.redirections.isEmpty {
                    commands.append(command)
                }
                command = SimpleCommand()
            }
            while let character = current {
                if let terminator, character == terminator {
                    index += 1
                    flush()
                    return
                }
                switch character {
                case " ", "\t":
                    index += 1
                case "\\" where peek(1) == "\n":
                    index += 2
                case "#" where command.argv.isEmpty || characters[index - 1] == " ":
                    while let next = current, next != "\n" { index += 1 }
                case "\n":
                    index += 1
                    flush()
                    try readHeredocBodies()
                case ";", "&", "|":
                    index += 1
                    if current == character { index += 1 }  // && || ;;
                    flush()
                case "(":
                    index += 1
                    flush()
                    try parseList(into: &commands, until: ")")
                case ")":
                    throw ShellParseError(description: "unbalanced ')'")
                case "{" where command.argv.isEmpty && (peek(1) == " " || peek(1) == "\n"):
                    index += 1  // a group: its commands are parsed like any others
                case "}" where command.argv.isEmpty:
                    index += 1
                case "<", ">":
                    try parseRedirection(into: &command, commands: &commands)
                default:
                    if character.properties.numericType != nil, peek(1) == ">" || peek(1) == "<" {
                        index += 1  // a descriptor number before a redirection: 2> file
                        continue
                    }
                    let (word, dynamic) = try parseWord(commands: &commands)
                    if dynamic { command.hasDynamicWords = true }
                    if command.argv.isEmpty, let equals = word.firstIndex(of: "="), word.first != "=",
                        word[..<equals].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
                    {
                        command.assignments.append(
                            SimpleCommand.Assignment(
                                name: String(word[..<equals]),
                                value: String(word[word.index(after: equals)...])
                            )
                        )
                    } else {
                        command.argv.append(word)
                    }
                }
            }
            if let terminator { throw ShellParseError(description: "unterminated '\(terminator)'") }
            flush()
            if !pendingHeredocs.isEmpty { throw ShellParseError(description: "unterminated heredoc") }
        }

        mutating func parseRedirection(into command: inout SimpleCommand, commands: inout [SimpleCommand]) throws {
            let first = current!  // the caller saw '<' or '>'
            index += 1
            var kind: Redirection.Kind = first == "<" ? .read : .write
            if first == ">" && current == ">" {
                index += 1
                kind = .append
            } else if first == "<" && current == "<" {
                index += 1
                var strip = false
                if current == "-" {
                    strip = true
                    index += 1
                }
                while current == " " { index += 1 }
                let (delimiter, _) = try parseWord(commands: &commands)
                pendingHeredocs.append((delimiter, strip))
                command.redirections.append(Redirection(kind: .heredoc, target: delimiter))
                return
            } else if current == "&" {
                index += 1
                kind = .duplicate
            } else if first == "<" && current == ">" {
                index += 1
            }
            if current == "|" { index += 1 }  // >| clobber
            while current == " " || current == "\t" { index += 1 }
            let (target, dynamic) = try parseWord(commands: &commands)
            if dynamic { command.hasDynamicWords = true }
            command.redirections.append(Redirection(kind: kind, target: target))
        }

        /// Skips heredoc bodies (after the newline that ends their command): they are data, not commands.
        mutating func readHeredocBodies() throws {
            while !pendingHeredocs.isEmpty {
                let (delimiter, strip) = pendingHeredocs.removeFirst()
                var found = false
                while index < characters.count {
                    var line = ""
                    while let next = current, next != "\n" {
                        line.unicodeScalars.append(next)
                        index += 1
                    }
                    if current == "\n" { index += 1 }
                    let candidate = strip ? String(line.drop { $0 == "\t" }) : line
                    if candidate == delimiter {
                        found = true
                        break
                    }
                }
                if !found { throw ShellParseError(description: "heredoc '\(delimiter)' is not terminated") }
            }
        }

        /// One word with quotes removed; nested `$(…)` and backtick commands are parsed into `commands`.
        mutating func parseWord(commands: inout [SimpleCommand]) throws -> (String, Bool) {
            var word = ""
            var dynamic = false
            var sawAnything = false
            while let character = current {
                if Self.operatorStarts.contains(character) || character == " " || character == "\t" { break }
                if character == "`" && backtickDepth > 0 { break }
                sawAnything = true
                switch character {
                case "'":
                    index += 1
                    while let next = current, next != "'" {
                        word.unicodeScalars.append(next)
                        index += 1
                    }
                    guard current == "'" else { throw ShellParseError(description: "unterminated single quote") }
                    index += 1
                case "\"":
                    index += 1
                    while let next = current, next != "\"" {
                        if next == "\\", let escaped = peek(1), ["\"", "\\", "$", "`", "\n"].contains(escaped) {
                            if escaped != "\n" { word.unicodeScalars.append(escaped) }
                            index += 2
                        } else if next == "$" || next == "`" {
                            dynamic = true
                            try parseExpansion(into: &word, commands: &commands)
                        } else {
                            word.unicodeScalars.append(next)
                            index += 1
                        }
                    }
                    guard current == "\"" else { throw ShellParseError(description: "unterminated double quote") }
                    index += 1
                case "\\":
                    index += 1
                    if let next = current {
                        word.unicodeScalars.append(next)
                        index += 1
                    }
                case "$", "`":
                    dynamic = true
                    try parseExpansion(into: &word, commands: &commands)
                case "*", "?", "[":
                    dynamic = true
                    word.unicodeScalars.append(character)
                    index += 1
                case "~" where word.isEmpty:
                    dynamic = true
                    word.unicodeScalars.append(character)
                    index += 1
                default:
                    word.unicodeScalars.append(character)
                    index += 1
                }
            }
            guard sawAnything else { throw ShellParseError(description: "expected a word") }
            return (word, dynamic)
        }

        /// `$(…)`, `` `…` ``, `${…}`, `$NAME`: command substitutions are parsed as commands; the word keeps a marker.
        mutating func parseExpansion(into word: inout String, commands: inout [SimpleCommand]) throws {
            if current == "`" {
                index += 1
                backtickDepth += 1
                defer { backtickDepth -= 1 }
                try parseList(into: &commands, until: "`")
                word += "$(…)"
                return
            }
            index += 1  // '$'
            if current == "(" {
                index += 1
                if current == "(" {  // $(( arithmetic ))
                    var depth = 2
                    index += 1
                    while let next = current, depth > 0 {
                        if next == "(" { depth += 1 }
                        if next == ")" { depth -= 1 }
                        index += 1
                    }
                    guard depth == 0 else { throw ShellParseError(description: "unterminated $((") }
                    word += "$((…))"
                    return
                }
                try parseList(into: &commands, until: ")")
                word += "$(…)"
            } else if current == "{" {
                var name = ""
                index += 1
                while let next = current, next != "}" {
                    name.unicodeScalars.append(next)
                    index += 1
                }
                guard current == "}" else { throw ShellParseError(description: "unterminated ${") }
                index += 1
                word += "${\(name)}"
            } else {
                var name = ""
                while let next = current,
                    next.properties.isAlphabetic || next.properties.numericType != nil || next == "_"
                        || (name.isEmpty && ["?", "$", "!", "#", "@", "*", "-"].contains(next))
                {
                    name.unicodeScalars.append(next)
                    index += 1
                    if name.count == 1 && !(next.properties.isAlphabetic || next == "_") { break }
                }
                word += "$" + name
            }
        }
    }
}
