import Foundation
public import OspreyCore

/// `read_file`: a text file in the workspace, optionally a range of lines.
public struct ReadFile: Tool {
    public struct Arguments: Decodable {
        var path: String
        var offset: Int?
        var limit: Int?
    }

    public init() {}

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "read_file",
            description:
                "Read a text file from the workspace. Optional offset (first line, 1-based) and limit (number of lines).",
            properties: [
                "path": .argument("string", "Path relative to the workspace"),
                "offset": .argument("integer", "First line to return (1-based)"),
                "limit": .argument("integer", "Maximum number of lines"),
            ],
            required: ["path"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        context.assessPath(arguments.path, writing: false)
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let (directory, path, _) = try context.place(arguments.path, writing: false)
        let (data, truncated) = try await Workspace.offload { try directory.read(path, limit: 4 << 20) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw WorkspaceError("'\(arguments.path)' is not UTF-8 text")
        }
        var output = text
        if arguments.offset != nil || arguments.limit != nil {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let start = max(1, arguments.offset ?? 1) - 1
            let count = max(0, arguments.limit ?? lines.count)
            output = lines.dropFirst(start).prefix(count).joined(separator: "\n")
        }
        return truncated ? output + "\n[file truncated at 4 MiB]" : output
    }
}

/// `write_file`: creates or replaces a file in the workspace.
public struct WriteFile: Tool {
    public struct Arguments: Decodable {
        var path: String
        var content: String
    }

    public init() {}

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "write_file",
            description: "Create or overwrite a file in the workspace with the given content.",
            properties: ["path": .argument("string"), "content": .argument("string")],
            required: ["path", "content"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        context.assessPath(arguments.path, writing: true)
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let data = Data(arguments.content.utf8)
        let (directory, path, _) = try context.place(arguments.path, writing: true)
        try await Workspace.offload { try directory.write(path, data: data) }
        return "Wrote \(data.count) bytes to \(arguments.path)."
    }
}

/// `edit_file`: replaces one exact, unique occurrence of a string.
public struct EditFile: Tool {
    public struct Arguments: Decodable {
        var path: String
        var oldString: String
        var newString: String

        enum CodingKeys: String, CodingKey {
            case path
            case oldString = "old_string"
            case newString = "new_string"
        }
    }

    public init() {}

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "edit_file",
            description: "Replace old_string with new_string in a file. old_string must occur exactly once.",
            properties: [
                "path": .argument("string"), "old_string": .argument("string"), "new_string": .argument("string"),
            ],
            required: ["path", "old_string", "new_string"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        context.assessPath(arguments.path, writing: true)
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        guard !arguments.oldString.isEmpty else { throw ToolArgumentError(description: "old_string must not be empty") }
        let (directory, path, _) = try context.place(arguments.path, writing: true)
        let (data, truncated) = try await Workspace.offload { try directory.read(path, limit: 16 << 20) }
        guard !truncated, let text = String(data: data, encoding: .utf8) else {
            throw WorkspaceError("'\(arguments.path)' is not a UTF-8 text file under 16 MiB")
        }
        let occurrences = text.components(separatedBy: arguments.oldString).count - 1
        guard occurrences == 1 else {
            throw ToolArgumentError(
                description: occurrences == 0
                    ? "old_string was not found in \(arguments.path)"
                    : "old_string occurs \(occurrences) times in \(arguments.path); include more context to make it unique"
            )
        }
        let updated = text.replacingOccurrences(of: arguments.oldString, with: arguments.newString)
        try await Workspace.offload { try directory.write(path, data: Data(updated.utf8)) }
        return "Edited \(arguments.path)."
    }
}

/// `list_dir`: the entries of a directory.
public struct ListDirectory: Tool {
    public struct Arguments: Decodable { var path: String? }

    public init() {}

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "list_dir",
            description: "List a directory of the workspace (default: its root).",
            properties: ["path": .argument("string")]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        context.assessPath(arguments.path, writing: false)
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let (directory, path, _) = try context.place(arguments.path ?? ".", writing: false)
        let entries = try await Workspace.offload { try directory.list(path) }
        if entries.isEmpty { return "(empty)" }
        return entries.map { entry in
            entry.isDirectory
                ? entry.name + "/"
                : entry.isSymlink ? entry.name + " -> (symlink)" : "\(entry.name) (\(entry.size) bytes)"
        }.joined(separator: "\n")
    }
}

/// `glob`: files whose workspace-relative path matches a pattern (`*`, `?`, `**`).
public struct Glob: Tool {
    public struct Arguments: Decodable {
        var pattern: String
        var path: String?
    }

    public init() {}

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "glob",
            description: "Find files by glob pattern, e.g. '**/*.swift' or 'docs/*.md'.",
            properties: ["pattern": .argument("string"), "path": .argument("string")],
            required: ["pattern"]
        )
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        context.assessPath(arguments.path, writing: false)
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let matcher = try Self.regex(arguments.pattern)
        let (directory, base, _) = try context.place(arguments.path ?? ".", writing: false)
        let files = try await Workspace.offload { try directory.files(under: base, limit: 100_000) }
        let matches = files.filter { path in
            matcher.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil
        }
        return matches.isEmpty ? "No files match \(arguments.pattern)." : matches.prefix(1000).joined(separator: "\n")
    }

    /// Translates a glob into an anchored regular expression.
    static func regex(_ pattern: String) throws -> NSRegularExpression {
        var expression = "^"
        var characters = Array(pattern)
        if characters.starts(with: ["/"]) { characters.removeFirst() }
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character == "*" {
                if index + 1 < characters.count, characters[index + 1] == "*" {
                    let slash = index + 2 < characters.count && characters[index + 2] == "/"
                    expression += slash ? "(?:.*/)?" : ".*"
                    index += slash ? 3 : 2
                    continue
                }
                expression += "[^/]*"
            } else if character == "?" {
                expression += "[^/]"
            } else {
                expression += NSRegularExpression.escapedPattern(for: String(character))
            }
            index += 1
        }
        return try NSRegularExpression(pattern: expression + "$")
    }
}

/// `grep`: lines matching a regular expression, as `path:line: text`.
public struct Grep: Tool {
    public struct Arguments: Decodable {
        var pattern: String
        var path: String?
        var glob: String?
    }

    public init() {}

    public var definition: ToolDefinition {
        ToolDefinition(
            name: "grep",
            description: "Search file contents with a regular expression. Optional path and glob filter.",
            properties: ["pattern": .argument("string"), "path": .argument("string"), "glob": .argument("string")],
            required: ["pattern"]
        )
    }

    public func call(_ arguments: Arguments, context: ToolContext) async throws -> String {
        let expression: NSRegularExpression
        do {
            expression = try NSRegularExpression(pattern: arguments.pattern)
        } catch {
            throw ToolArgumentError(description: "pattern is not a valid regular expression")
        }
        let filter = try arguments.glob.map(Glob.regex)
        var results: [String] = []
        let (directory, base, _) = try context.place(arguments.path ?? ".", writing: false)
        for path in try await Workspace.offload({ try directory.files(under: base, limit: 20_000) }) {
            try Task.checkCancellation()
            if let filter, filter.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) == nil { continue }
            guard let (data, _) = try? await Workspace.offload({ try directory.read(path, limit: 2 << 20) }),
                let text = String(data: data, encoding: .utf8)
            else { continue }
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = String(line)
                if expression.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil {
                    results.append("\(path):\(number + 1): \(line)")
                    if results.count >= 500 { return results.joined(separator: "\n") + "\n[stopped at 500 matches]" }
                }
            }
        }
        return results.isEmpty ? "No matches." : results.joined(separator: "\n")
    }

    public func assess(_ arguments: Arguments, context: ToolContext) -> ToolAssessment {
        context.assessPath(arguments.path, writing: false)
    }
}
