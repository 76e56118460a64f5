public import Foundation
public import OspreyCore
import OspreySandbox

/// One skill: a `SKILL.md` (YAML front matter, then Markdown instructions) in a folder of its own, with optional
/// `scripts/` and `references/`, the convention agent tools share.
///
/// ```markdown
/// ---
/// name: release-notes
/// description: Write release notes from the git log since the last tag.
/// requires:
///   bins: [git]
///   env: [GITHUB_TOKEN]
///   os: [linux]
/// allowed-tools: [read_file, run_command]
/// ---
/// 1. Run `git describe --tags --abbrev=0` ...
/// ```
public struct Skill: Hashable, Sendable {
    public var name: String
    public var description: String
    public var body: String
    public var allowedTools: [String]?
    public var requiredBinaries: [String] = []
    public var requiredEnvironment: [String] = []
    public var requiredOS: [String] = []
    /// The skill's folder.
    public var directory: URL
    /// Whether it came from the operator's `<home>/skills` (trusted) or the workspace's `skills/` (which agents can
    /// write: what it says is untrusted content).
    public var trusted: Bool
    /// Why it cannot be used here (a missing binary, variable or OS); nil when it can.
    public var unavailable: String?
    /// Its steps, when it is a workflow skill (`workflow.toml` beside `SKILL.md`).
    public var workflow: Workflow?

    /// Reads `SKILL.md` in `directory`; every error names the field.
    public init(directory: URL, trusted: Bool) throws {
        let file = directory.appendingPathComponent("SKILL.md")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else {
            throw SkillError("\(file.path): cannot be read")
        }
        let (front, body) = try Self.split(text, file: file.path)
        guard let name = front["name"]?.stringValue, Self.isName(name) else {
            throw SkillError("\(file.path): name is required: 1-64 of a-z 0-9 - _")
        }
        guard name == directory.lastPathComponent else {
            throw SkillError("\(file.path): name '\(name)' is not its folder's, '\(directory.lastPathComponent)'")
        }
        guard let description = front["description"]?.stringValue, !description.isEmpty else {
            throw SkillError("\(file.path): description is required")
        }
        self.name = name
        self.description = description
        self.body = body
        self.directory = directory
        self.trusted = trusted
        if let tools = front["allowed-tools"] {
            guard let list = tools.arrayValue?.compactMap(\.stringValue) else {
                throw SkillError("\(file.path): allowed-tools must be a list of tool names")
            }
            allowedTools = list
        }
        if let requires = front["requires"] {
            guard let table = requires.objectValue else {
                throw SkillError("\(file.path): requires must be a mapping (bins, env, os)")
            }
            for (key, value) in table {
                guard let list = value.arrayValue?.compactMap(\.stringValue) else {
                    throw SkillError("\(file.path): requires.\(key) must be a list")
                }
                switch key {
                case "bins": requiredBinaries = list
                case "env": requiredEnvironment = list
                case "os": requiredOS = list
                default: throw SkillError("\(file.path): requires.\(key) is not known (bins, env, os)")
                }
            }
        }
        let known: Set = ["name", "description", "requires", "allowed-tools", "version", "license", "metadata"]
        if let unknown = front.objectValue?.keys.sorted().first(where: { !known.contains($0) }) {
            throw SkillError("\(file.path): unknown front matter key '\(unknown)'")
        }
        let steps = directory.appendingPathComponent(Workflow.fileName)
        if FileManager.default.fileExists(atPath: steps.path) {
            guard let text = try? String(contentsOf: steps, encoding: .utf8) else {
                throw SkillError("\(steps.path): cannot be read")
            }
            do {
                workflow = try Workflow(name: name, toml: text)
            } catch let error as SkillError {
                throw SkillError("\(directory.path)/\(error.description)")
            }
        }
    }

    static func isName(_ name: String) -> Bool {
        name.range(of: "^[a-z0-9][a-z0-9_-]{0,63}$", options: .regularExpression) != nil
    }

    /// What the static scan found in the skill's scripts (each finding names the file and line); a skill with any
    /// is unavailable.
    public var findings: [String] = []

    /// Scans `scripts/`: every line the command policy refuses (privilege, destroyers, protected paths, forbidden
    /// variables: the same blacklist as `run_command`), downloads piped into a shell, and payloads decoded and
    /// executed.
    ///
    /// Every agent run reads the catalog, so a script's findings are kept while the file is unchanged
    /// (``scanned``): the same device, inode, size, modification and change times. The change time is the kernel's
    /// own and cannot be set back by a process, so a script rewritten with its old size and modification time is
    /// read and judged again.
    public static func scan(_ directory: URL, workflow: Workflow? = nil) -> [String] {
        let scripts = directory.appendingPathComponent("scripts")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: scripts.path))?.sorted() ?? []
        var findings: [String] = []
        for name in names where !name.hasPrefix(".") {
            let path = scripts.appendingPathComponent(name).path
            // Taken before the file is read: a change while it is read leaves a stamp that no longer matches.
            let stamp = FileStamp(path)
            if let stamp, let kept = scanned.value(for: path, stamps: stamp) {
                findings += kept
                continue
            }
            let found = judge(file: path, named: "scripts/\(name)")
            if let stamp { scanned.keep(found, for: path, stamps: stamp) }
            findings += found
        }
        // A workflow's command steps and checks are scripts too.
        for step in workflow?.steps ?? [] {
            var lines = step.acceptance.compactMap { check -> String? in
                if case .command(let line) = check { return line }
                return nil
            }
            if case .command(let line) = step.action { lines.insert(line, at: 0) }
            for line in lines {
                if let finding = judge(line) { findings.append("\(Workflow.fileName) step '\(step.name)': \(finding)") }
            }
        }
        return findings
    }

    /// What the scan finds in one script file, each finding prefixed with `name` and the line.
    static func judge(file path: String, named name: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path), data.count <= 256 << 10 else {
            return ["\(name): unreadable or over 256 KiB"]
        }
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, raw in
            judge(String(raw)).map { "\(name):\(index + 1): \($0)" }
        }
    }

    /// What is wrong with one script line, if anything.
    static func judge(_ raw: String) -> String? {
        let line = raw.trimmingCharacters(in: .whitespaces)
        guard !line.isEmpty, !line.hasPrefix("#") else { return nil }
        let whole = NSRange(line.startIndex..., in: line)
        if let pattern = suspicious.first(where: { $0.pattern.firstMatch(in: line, range: whole) != nil }) {
            return pattern.why
        }
        if case .deny(let reason) = CommandPolicy().evaluate(line) { return reason }
        return nil
    }

    /// Shapes the command policy does not judge on its own: code fetched or decoded, then run. Compiled once: every
    /// line of every skill's scripts is matched against them. (`try!`: constant patterns, compiled by every test that
    /// scans a skill.)
    static let suspicious: [(pattern: NSRegularExpression, why: String)] = [
        (#"(curl|wget|fetch)\b[^|;&]*\|\s*(sudo\s+)?(env\s+)?(ba|z|da|k)?sh\b"#, "a download piped into a shell"),
        (#"(curl|wget)\b[^|;&]*\|\s*(sudo\s+)?python[0-9.]*\b"#, "a download piped into an interpreter"),
        (#"base64\s+(-d|--decode|-D)\b[^;&]*\|\s*(ba|z|da)?sh\b"#, "a decoded payload piped into a shell"),
        (#"\beval\s+["']?\$\((echo|printf|base64|curl|wget|xxd)"#, "eval of decoded or downloaded text"),
        (
            #"(b64decode|fromhex|decode\(['"]base64)[^\n]*\b(exec|eval|system)\b|\b(exec|eval)\s*\([^)]*b64decode"#,
            "a decoded payload executed"
        ),
        (#"\bsh\s+-c\s+["']?\$\((curl|wget)"#, "a download run by sh -c"),
    ].map { (try! NSRegularExpression(pattern: $0.0), $0.1) }

    /// Checks the requirements against this machine and `environment`, and the scan.
    mutating func gate(environment: [String: String], path: String) {
        findings = Self.scan(directory, workflow: workflow)
        if !findings.isEmpty {
            unavailable = "refused by the scan: " + findings.prefix(3).joined(separator: "; ")
            return
        }
        var missing: [String] = []
        for binary in requiredBinaries where CommandRunner.which(binary, path: path) == nil {
            missing.append("binary \(binary)")
        }
        for variable in requiredEnvironment where environment[variable] == nil {
            missing.append("variable \(variable)")
        }
        if !requiredOS.isEmpty && !requiredOS.contains("linux") {
            missing.append("os \(requiredOS.joined(separator: "/"))")
        }
        unavailable = missing.isEmpty ? nil : "missing " + missing.joined(separator: ", ")
    }

    /// The files beside `SKILL.md` under `references/` and `scripts/`, relative to the skill's folder.
    public var files: [String] {
        ["references", "scripts"].flatMap { folder -> [String] in
            let url = directory.appendingPathComponent(folder)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
            return names.sorted().filter { !$0.hasPrefix(".") }.map { "\(folder)/\($0)" }
        }
    }

    /// Front matter (a YAML subset: `key: value`, flow lists `[a, b]`, block lists `- a`, one level of nested
    /// mappings) and the Markdown after it.
    static func split(_ text: String, file: String) throws -> (JSONValue, String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.first?.trimmingCharacters(in: .whitespaces) == "---",
            let end = lines.dropFirst().firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "---" })
        else { throw SkillError("\(file): front matter between --- lines is required") }
        var root: [String: JSONValue] = [:]
        // The top-level key whose value is on the lines below: a block list, or a mapping of one level.
        var top: String?
        var topList: [JSONValue] = []
        var topMap: [String: JSONValue] = [:]
        // A key of that mapping whose list is on the lines below.
        var nestedKey: String?
        var nestedList: [JSONValue] = []
        func closeNested() {
            if let nestedKey { topMap[nestedKey] = .array(nestedList) }
            nestedKey = nil
            nestedList = []
        }
        func closeTop() {
            closeNested()
            if let top { root[top] = topMap.isEmpty ? .array(topList) : .object(topMap) }
            top = nil
            topList = []
            topMap = [:]
        }
        func value(_ text: String) -> JSONValue {
            guard text.hasPrefix("["), text.hasSuffix("]") else { return .string(Self.scalar(text)) }
            let inner = text.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
            guard !inner.isEmpty else { return .array([]) }
            return .array(
                inner.split(separator: ",").map { .string(Self.scalar($0.trimmingCharacters(in: .whitespaces))) }
            )
        }
        for (offset, raw) in lines[1..<end].enumerated() {
            let line = raw.replacingOccurrences(of: "\t", with: "    ")
            let content = line.trimmingCharacters(in: .whitespaces)
            if content.isEmpty || content.hasPrefix("#") { continue }
            let indent = line.prefix { $0 == " " }.count
            let number = offset + 2
            if content.hasPrefix("- ") || content == "-" {
                let item = JSONValue.string(
                    Self.scalar(String(content.dropFirst(1)).trimmingCharacters(in: .whitespaces))
                )
                if nestedKey != nil {
                    nestedList.append(item)
                } else if top != nil && topMap.isEmpty {
                    topList.append(item)
                } else {
                    throw SkillError("\(file): front matter line \(number): a list item outside a list")
                }
                continue
            }
            guard let colon = content.firstIndex(of: ":") else {
                throw SkillError("\(file): front matter line \(number) is not 'key: value'")
            }
            let key = String(content[..<colon]).trimmingCharacters(in: .whitespaces)
            let rest = String(content[content.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            if indent == 0 {
                closeTop()
                if rest.isEmpty { top = key } else { root[key] = value(rest) }
            } else {
                guard top != nil, topList.isEmpty else {
                    throw SkillError("\(file): front matter line \(number) is indented under nothing")
                }
                closeNested()
                if rest.isEmpty { nestedKey = key } else { topMap[key] = value(rest) }
            }
        }
        closeTop()
        let body = lines[(end + 1)...].joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        return (.object(root), body)
    }

    static func scalar(_ text: String) -> String {
        if text.count >= 2, let first = text.first, first == "\"" || first == "'", text.last == first {
            return String(text.dropFirst().dropLast())
        }
        return text
    }
}

public struct SkillError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
