import Foundation
import NIOHTTP1
import OspreyCore

/// `osprey-bench local-model --choices`: what the local model does first with 28 questions (a tool, and which,
/// or words), through the gateway, with the file tools (a new home's grant with no API key) and with every built-in
/// tool, and how long each grant makes the first prompt; and how many of the answers carry the tool list's format
/// text ("message:", "functions.", ...) instead of words of their own.
extension LocalModelBench {
    /// The questions and the first action each wants: a tool's name, or nil for an answer in words.
    static let questions: [(question: String, wanted: String?)] = [
        ("Read notes.txt", "read_file"), ("List the files in the workspace", "list_dir"), ("Say hello", nil),
        ("What is 2+2?", nil), ("Find the files whose names end in .md", "glob"),
        ("Search the files for the word osprey", "grep"), ("Write 'hi' to hello.txt", "write_file"),
        ("What is the capital of France?", nil), ("Show me the first line of notes.txt", "read_file"),
        ("Create a file todo.txt containing buy milk", "write_file"), ("Thank you!", nil),
        ("Open plan.md and tell me what it says", "read_file"),
        // Sixteen more (the thirty-first session), half of them wanting words.
        ("Good morning!", nil), ("How are you?", nil), ("Who wrote Hamlet?", nil), ("Tell me a joke", nil),
        ("What does HTTP stand for?", nil), ("Translate 'cat' into French", nil),
        ("What is the boiling point of water?", nil), ("Can you explain what a variable is?", nil),
        ("What is in notes.txt?", "read_file"), ("Delete the word dawn from notes.txt", "edit_file"),
        ("Which files are in the workspace?", "list_dir"), ("Save the text 'done' in status.txt", "write_file"),
        ("Look for TODO in all files", "grep"), ("Replace osprey with eagle in notes.txt", "edit_file"),
        ("Thanks, that's all.", nil), ("What day comes after Monday?", nil),
    ]

    func measureChoices() async throws {
        for (label, granted) in [
            ("file tools", OspreyConfig.Agent.localModelTools), ("every tool", OspreyConfig.Agent.defaultAgentTools),
        ] {
            try await Self.waitUntilFree(port: modelPort)
            let (right, promptTokens, copied) = try await choices(granted: granted, label: label)
            let words = Self.questions.indices.filter { Self.questions[$0].wanted == nil }
            print(
                "\(label) (\(granted.count)): \(right.count) of \(Self.questions.count) first actions as wanted (the first twelve: \(right.filter { $0 < 12 }.count); of the \(words.count) wanting words: \(right.filter(words.contains).count)); first prompt \(promptTokens) tokens; \(copied) of \(Self.questions.count) answers carry the format's text"
            )
        }
    }

    /// Asks each question in a new session of a fresh gateway whose default agent has `granted` (one tool round at
    /// most), and reads the first tool it asked for from the ledger: `right` holds the questions' indices whose first
    /// action was the one wanted, `copied` counts the answers with the format's text.
    func choices(granted: [String], label: String) async throws -> (right: [Int], promptTokens: Int, copied: Int) {
        let home = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "osprey-bench-choices-\(getpid())"
        )
        try? FileManager.default.removeItem(at: home)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        try
            "[local_model]\nport = \(modelPort)\n\n[agents.default]\n\(OspreyConfig.grant(granted))\nmax_tool_rounds = 1\n"
            .write(
                to: home.appendingPathComponent("config.toml"),
                atomically: true,
                encoding: .utf8
            )
        let gateway = try GatewayBench.startGateway(home: home, port: port)
        defer {
            gateway.terminate()
            gateway.waitUntilExit()
        }
        try "The osprey returns at dawn.\n".write(
            to: home.appendingPathComponent("workspace/notes.txt"),
            atomically: true,
            encoding: .utf8
        )
        let api = try GatewayAPI(home: home, port: port)
        var right: [Int] = []
        var promptTokens = 0
        var copied = 0
        for (index, (question, wanted)) in Self.questions.enumerated() {
            let session = try await api.json(api.call(.POST, "/api/sessions", ["title": "choice"]))
            let id = session["id"]?.stringValue ?? ""
            let reply = try await api.json(
                api.call(.POST, "/api/sessions/\(id)/messages", ["content": .string(question)])
            )
            let answer = reply["response"]?.stringValue ?? ""
            let format = ["message:", "<message>", "functions.", "function calls", "You can respond"]
            if format.contains(where: answer.contains) { copied += 1 }
            let requested = try await api.json(
                api.call(.GET, "/api/events?session=\(id)&type=tool.call.requested&limit=1")
            )
            let chosen = requested["events"]?.arrayValue?.first?["payload"]?["tool"]?.stringValue
            let calls = try await api.json(api.call(.GET, "/api/events?session=\(id)&type=llm.call&limit=1"))
            // The longest: an answer in words may be written from a prompt without the tool list.
            let tokens = calls["events"]?.arrayValue?.first?["payload"]?["tokens_in"]?.intValue ?? 0
            promptTokens = max(promptTokens, tokens)
            if chosen == wanted { right.append(index) }
            print(
                "  \(label): \(question.debugDescription) wanted \(wanted ?? "words"), got \(chosen ?? "words"): \(String(answer.prefix(90)).debugDescription)"
            )
        }
        return (right, promptTokens, copied)
    }
}
