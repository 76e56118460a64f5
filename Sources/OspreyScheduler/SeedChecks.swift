import Foundation
public import OspreyCore

/// The mechanical stage of a seed's evaluation: no model, only programs. A `command` criterion runs through the
/// agent's own `run_command` (its sandbox, policy and approvals) and passes on exit code 0; `file_exists` reads the
/// file through `read_file`; `regex` matches the file's text. Shared by `POST /api/seeds/{id}/evaluate` and spec
/// runs.
public enum SeedChecks {
    /// Calls one of the agent's tools through the check point: its output, and whether it is an error.
    public typealias CallTool = @Sendable (_ tool: String, _ arguments: JSONValue) async throws -> (String, Bool)

    /// A mechanical criterion's status (`passed` or `failed`) and the evidence that decided it (the exit code and
    /// the output's tail, the matched text, the error); nil for a `judge` criterion.
    public static func check(
        _ criterion: SeedDocument.Criterion,
        tool: CallTool
    ) async throws -> (status: String, evidence: String)? {
        let check = criterion.check
        switch criterion.kind {
        case "command":
            let (output, isError) = try await tool("run_command", ["command": check["command"] ?? ""])
            guard !isError else { return ("failed", "run_command refused it: \(output)") }
            let head = output.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
            let code = head.wholeMatch(of: /\[exit code (-?\d+)\]/).flatMap { Int($0.output.1) } ?? -1
            return (code == 0 ? "passed" : "failed", "\(head) \(output.suffix(1000))")
        case "file_exists":
            let (output, isError) = try await tool("read_file", ["path": check["file_exists"] ?? "", "limit": 1])
            return isError ? ("failed", output) : ("passed", "read: \(output.prefix(200))")
        case "regex":
            let (text, isError) = try await tool("read_file", ["path": check["file"] ?? ""])
            guard !isError else { return ("failed", text) }
            let pattern = check["regex"]?.stringValue ?? ""
            guard let range = text.range(of: pattern, options: .regularExpression) else {
                return ("failed", "no match for \(pattern) in \(check["file"]?.stringValue ?? "")")
            }
            return ("passed", "matched: \(text[range].prefix(300))")
        default:
            return nil
        }
    }
}
