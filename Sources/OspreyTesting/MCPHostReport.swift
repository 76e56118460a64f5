public import OspreyCore

/// What the Python MCP host (`Tests/Fixtures/mcp/host_client.py`) must have seen of Osprey's MCP server, whichever
/// door it came through (stdio or HTTP): the checks both doors' tests share, each failure said in words.
public enum MCPHostReport {
    /// The checks `seen` fails; empty when every one holds.
    public static func problems(_ seen: JSONValue) -> [String] {
        var problems: [String] = []
        func check(_ holds: Bool, _ what: String) { if !holds { problems.append(what) } }
        let transcript = seen["transcript_uri"] ?? .null
        check(seen["same_session"] == true, "ask_agent continues the session it named")
        check(seen["stored_error"] == false && seen["found"] == true, "store_memory then search_memory finds it")
        check(seen["bad_id_error"] == true && seen["missing_error"] == true, "bad and unknown ids are error results")
        check(seen["bad_id_text"]?.stringValue?.contains("must be an id") == true, "a path-like id is refused as such")
        check(
            seen["unknown_tool"]?.stringValue?.contains("Unknown tool: no_such_tool") == true,
            "an unknown tool is a JSON-RPC error"
        )
        // Progress while the agent ran, the transcript resource and its update, templates, prompts.
        check(seen["progress"]?.arrayValue?.isEmpty == false, "ask_agent reports progress")
        check(seen["updates"]?.arrayValue?.contains(transcript) == true, "a subscribed transcript says it changed")
        check(seen["transcript"]?.stringValue?.contains("Again") == true, "the transcript resource reads")
        check(seen["resources"]?.arrayValue?.contains("osprey://audit/verify") == true, "the audit resource is listed")
        check(seen["resources"]?.arrayValue?.contains(transcript) == true, "the transcript is listed")
        check(
            seen["templates"]
                == [
                    "osprey://memory/{id}", "osprey://sessions/{id}/transcript", "osprey://tasks/{id}",
                    "osprey://workspace/{path}",
                ],
            "the four resource templates"
        )
        check(seen["verify"]?["ok"] == true, "the ledger verifies")
        check(seen["missing_resource"]?.stringValue?.contains("not found") == true, "an unknown resource is not found")
        // The agent's own tools, through the same check point: a write, a read, an escape refused.
        check(seen["wrote_error"] == false, "write_file works")
        check(seen["read_back"]?.stringValue?.contains("from the host") == true, "read_file reads it back")
        check(seen["escape_error"] == true, "read_file of ../../etc/passwd is refused")
        check(seen["note_resource"]?.stringValue?.contains("from the host") == true, "the workspace resource reads")
        check(seen["escape_resource"]?.stringValue?.contains("not found") == true, "a workspace escape is not found")
        check(seen["prompts"]?.arrayValue?.contains("default") == true, "a prompt per agent")
        check(seen["prompt"]?.stringValue?.contains("ask_agent") == true, "the prompt hands the request to ask_agent")
        return problems.map { "\($0) (host saw: \(seen.canonicalJSON.prefix(3000)))" }
    }
}
