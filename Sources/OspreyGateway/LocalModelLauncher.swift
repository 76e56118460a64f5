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
/// with the configured interpreter in place of `-m llama_cpp.server`.
enum LocalModelLauncher {
    static let chatFormat = "osprey-function-calling"

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

    /// The launcher's Python source.
    static let source = #"""
        # Osprey's launcher for llama-cpp-python's OpenAI-compatible server, written and run by the Osprey gateway.
        #
        # It registers the chat format "osprey-function-calling": llama-cpp-python's own "chatml-function-calling" (same
        # prompt, same replies) with two of its steps changed. Where that handler lets the model choose between a tool call
        # and words with a grammar ("functions.<name>:" or "message:", then "functions.<name>:" or the end), llama.cpp
        # checks every one of the vocabulary's ~49k tokens against the grammar at every step. Here the same choice is
        # made by allowing, at each step, only the tokens that continue one of the choices (a few tokenizer calls). And
        # an answer in words is left unconstrained: the handler applies the tool grammar to the words too, so they came
        # back empty. And the prompt is the messages' own text: the handler renders its template with HTML escaping on,
        # so every quote, apostrophe, ampersand and angle bracket of the messages reached the model as an entity
        # (&#34;), and the model wrote entities back in its answers; unescaping the rendered prompt gives exactly the
        # unescaped rendering (the template's own text has no entities, and tojson writes & < > ' as \u escapes).
        # Anything else passes through unchanged.
        import html
        import re
        import sys

        import numpy
        from llama_cpp import LogitsProcessorList, llama_chat_format

        CHOICE = 'root   ::= functions | "message:"\n'
        FOLLOW_UP = 'root   ::= functions | "<|im_end|>"\n'
        END = "<|im_end|>"


        class Choice:
            """Allows only tokens that continue one of `choices` from what has been generated so far."""

            def __init__(self, llama, choices):
                self.llama = llama
                self.choices = choices
                self.start = None
                self.pieces = {}

            def single_token(self, text):
                if text not in self.pieces:
                    ids = self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
                    self.pieces[text] = ids[0] if len(ids) == 1 else None
                return self.pieces[text]

            def __call__(self, input_ids, scores):
                if self.start is None:
                    self.start = len(input_ids)
                made = self.llama.detokenize(list(input_ids[self.start :])).decode("utf-8", "replace")
                allowed = set()
                for choice in self.choices:
                    if choice == END:
                        if made == "":
                            allowed.add(self.llama.token_eos())
                        continue
                    if len(choice) <= len(made) or not choice.startswith(made):
                        continue
                    rest = choice[len(made) :]
                    for end in range(1, len(rest) + 1):
                        token = self.single_token(rest[:end])
                        if token is not None:
                            allowed.add(token)
                if not allowed:
                    allowed.add(self.llama.token_eos())
                kept = numpy.full_like(scores, -numpy.inf)
                indices = numpy.fromiter(allowed, dtype=numpy.int64)
                kept[indices] = scores[indices]
                return kept


        class FastChoices:
            """The model as chatml_function_calling sees it, with its choice grammars replaced."""

            def __init__(self, llama):
                self._llama = llama

            def __getattr__(self, name):
                return getattr(self._llama, name)

            def create_completion(self, *args, **kwargs):
                if isinstance(kwargs.get("prompt"), str):
                    kwargs["prompt"] = html.unescape(kwargs["prompt"])
                text = getattr(kwargs.get("grammar"), "_grammar", None)
                if text is not None and (text.startswith(CHOICE) or text.startswith(FOLLOW_UP)):
                    kwargs["grammar"] = None
                    if not (text.startswith(FOLLOW_UP) and str(kwargs.get("prompt", "")).endswith("message:\n")):
                        choices = re.findall(r'"([^"\\]*)"', text)
                        kwargs["logits_processor"] = LogitsProcessorList(
                            [Choice(self._llama, choices)] + list(kwargs.get("logits_processor") or [])
                        )
                return self._llama.create_completion(*args, **kwargs)


        @llama_chat_format.register_chat_completion_handler("osprey-function-calling")
        def osprey_function_calling(llama, **kwargs):
            return llama_chat_format.chatml_function_calling(llama=FastChoices(llama), **kwargs)


        if __name__ == "__main__":
            from llama_cpp.server.__main__ import main

            sys.argv[0] = "llama_cpp.server"
            main()
        """#
}
