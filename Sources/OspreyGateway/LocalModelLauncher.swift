public import Foundation
public import OspreyCore

/// Osprey's launcher for llama-cpp-python's server: the `osprey-function-calling` chat format (the default).
///
/// llama-cpp-python's `chatml-function-calling` handler (0.3.x) has the model choose between a tool call and words
/// under a grammar, which llama.cpp checks against the whole vocabulary at every step, and then constrains the words
/// with the tool-name grammar too, so an answer in words comes back empty (the provider then had to ask again, paying
/// for a second prompt). The launcher registers a chat format that is that handler with those two steps changed:
/// the choice allows, at each step, only the tokens that continue one of the choices, and words are free. It is
/// Python because the handler runs inside the server; the gateway writes it beside the server's log and runs it
/// with the configured interpreter in place of `-m llama_cpp.server`. With ``statesVariable`` set it also keeps the
/// state of agents' evaluated openings (all before the first user turn) on disk, which a restarted server loads in
/// ~0.1 s instead of evaluating them for seconds. And it ends at once on SIGTERM (uvicorn's graceful shutdown waited
/// for the prompt being evaluated, so a stop during one took the gateway's 5 s before its SIGKILL).
enum LocalModelLauncher {
    static let chatFormat = "osprey-function-calling"
    /// The environment variable naming the directory the launcher keeps agents' evaluated openings in (``source``).
    static let statesVariable = "OSPREY_LOCAL_MODEL_STATES"

    /// The server's command line without the model, port and format: `command` as configured, or, for
    /// `osprey-function-calling`, the same interpreter and arguments running the launcher at `script` instead of
    /// `-m llama_cpp.server`, with ``tuning`` first (so the configured arguments, which follow, override it).
    static func command(_ settings: OspreyConfig.LocalModel, script: URL) throws -> [String] {
        guard settings.chatFormat == chatFormat else { return settings.command }
        let module = ["-m", "llama_cpp.server"]
        guard
            let at = settings.command.indices.dropLast().first(where: {
                Array(settings.command[$0...].prefix(2)) == module
            }),
            at > 0  // the interpreter comes first
        else {
            throw ConfigError(
                "local_model.chat_format \"\(chatFormat)\" runs llama-cpp-python's server through Osprey's launcher, "
                    + "so local_model.command must be an interpreter running `-m llama_cpp.server` (or choose another chat_format)"
            )
        }
        try Data(source.utf8).write(to: script, options: .atomic)
        var command = settings.command
        command.replaceSubrange(at..<(at + 2), with: [script.path] + tuning(processors: activeProcessors()))
        return command
    }

    /// llama-cpp-python's server settings Osprey changes, measured on the SmolLM2 model over a default agent's first
    /// prompt (1,250 tokens with its 18 tools) and a 120-token answer, on two cores (BENCHMARKS.md):
    /// - `logits_all false`: the server keeps the logits of every prompt token by default (for `logprobs`, which
    ///   Osprey never asks for), a vocabulary-wide row per token: 870 → 450 MB resident, and less to compute.
    /// - `flash_attn true`: the attention without its full score matrix: 450 → 430 MB, and faster.
    /// - `n_threads`: the server makes words on half the processors by default (one of two here); on all of them,
    ///   at most eight (a model this small gains little from more): 67-70 → 107-115 tokens a second.
    /// Together: the first prompt 6.7-7.0 → 4.9-5.2 s.
    static func tuning(processors: Int) -> [String] {
        ["--logits_all", "false", "--flash_attn", "true", "--n_threads", String(max(1, min(processors, 8)))]
    }

    /// The processors this process may run on.
    static func activeProcessors() -> Int { ProcessInfo.processInfo.activeProcessorCount }
}
