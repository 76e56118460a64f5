import Foundation
import OspreyCore
import OspreyTesting
import Testing

@testable import OspreyGateway

struct LocalModelLauncherTests {
    @Test(.timeLimit(.minutes(1)))
    func aCancelledWaitForTheModelLookupEndsAtOnceAndTheLookupGoesOn() async throws {
        // Given a lookup that does not end until the test says (as the Python process it waits for cannot be
        // interrupted)
        let (finish, finished) = AsyncStream<String>.makeStream()
        let lookup = Task<String, any Error> {
            for await path in finish { return path }
            return ""
        }
        // When a caller waiting for it is cancelled (a shutdown just after the start)
        let waiting = Task { try await LocalModelServer.value(of: lookup) }
        waiting.cancel()
        // Then its wait ends with the cancellation while the lookup is still under way
        await #expect(throws: CancellationError.self) { try await waiting.value }
        // And the lookup's answer is there for the next caller
        finished.yield("/models/smollm2.gguf")
        #expect(try await LocalModelServer.value(of: lookup) == "/models/smollm2.gguf")
        // And a caller already cancelled does not wait at all
        let (never, neverEnds) = AsyncStream<String>.makeStream()
        let endless = Task<String, any Error> {
            for await path in never { return path }
            return ""
        }
        defer { neverEnds.finish() }
        let late = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await LocalModelServer.value(of: endless)
        }
        await #expect(throws: CancellationError.self) { try await late.value }
    }

    @Test func theLauncherRunsInPlaceOfTheServerModuleWithTheSameInterpreterAndArguments() throws {
        let directory = try TemporaryDirectory(prefix: "osprey-launcher")
        defer { directory.remove() }
        let script = directory.url.appendingPathComponent("local-model-launcher.py")
        var settings = OspreyConfig().localModel
        #expect(settings.chatFormat == "osprey-function-calling")
        settings.command = ["/opt/venv/bin/python3", "-X", "utf8", "-m", "llama_cpp.server", "--n_threads", "2"]

        let command = try LocalModelLauncher.command(settings, script: script)

        // The launcher's own settings come first, so the configured arguments after them have the last word.
        let tuning = LocalModelLauncher.tuning(processors: LocalModelLauncher.activeProcessors())
        #expect(tuning.contains("--logits_all") && tuning.contains("--n_threads"))
        #expect(command == ["/opt/venv/bin/python3", "-X", "utf8", script.path] + tuning + ["--n_threads", "2"])
        let written = try String(contentsOf: script, encoding: .utf8)
        #expect(written.contains(#"register_chat_completion_handler("osprey-function-calling")"#))
    }

    @Test(.timeLimit(.minutes(2)))
    func theModelSeesTheMessagesTextAsWrittenNotAsHTMLEntities() async throws {
        // Given the launcher's chat format, in front of a model that records the prompt it is given
        let probe = """
            model = Model(lambda kwargs: '{"path": "a.txt"}')
            messages = [
                {"role": "system", "content": "Quote files 'exactly' & <plainly>."},
                {"role": "user", "content": 'What is in "a&b.txt"? It says &amp; and &#39;'},
            ]
            handler(llama=model, messages=messages)
            tool = {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object",
                    "properties": {"path": {"type": "string"}}}}}
            handler(llama=model, messages=messages, tools=[tool], tool_choice={"type": "function",
                    "function": {"name": "read_file"}})
            print(json.dumps([call["prompt"] for call in model.calls]))
            """
        // When a conversation with quotes, ampersands, angle brackets and text that looks like an entity is
        // rendered, without tools and with a tool to call
        let run = try await runLauncherProbe(probe)
        #expect(run.status == 0, "\(run.stderr)")
        let prompts = try JSONDecoder().decode([String].self, from: Data(run.stdout.utf8))
        // Then the model is given each message's text exactly as written, in both prompts
        #expect(prompts.count == 2)
        for prompt in prompts {
            #expect(prompt.contains("Quote files 'exactly' & <plainly>."), "\(prompt)")
            #expect(prompt.contains(#"What is in "a&b.txt"? It says &amp; and &#39;"#), "\(prompt)")
            #expect(!prompt.contains("&#34;") && !prompt.contains("&amp;amp;"), "\(prompt)")
        }
        // And the template's own text is untouched but for the tool list's one line a tool (where the call begins)
        #expect(prompts[1].contains("functions.read_file:\n{\"path\"?: string}\n"), "\(prompts[1])")
    }

    @Test(.timeLimit(.minutes(2)))
    func theModelSeesEachToolInOneLineAndItsArgumentsAreStillHeldToTheWholeSchema() async throws {
        // Given the launcher's chat format, in front of a model that records each prompt and grammar it is given
        let probe = """
            def tool(name, properties, required):
                return {"type": "function", "function": {"name": name, "description": "Does " + name, "parameters":
                        {"type": "object", "properties": properties, "required": required,
                         "additionalProperties": False}}}

            tools = [
                tool("read_file", {"path": {"type": "string", "description": "Relative path"},
                                   "limit": {"type": "integer"}}, ["path"]),
                tool("copy", {"mode": {"type": "string", "enum": ["fast", "safe"]}, "paths": {"type": "array",
                              "items": {"type": "string"}}, "options": {"type": "object"}}, ["mode"]),
            ]
            # The choice between words and tools picks words; else the arguments.
            model = Model(choosing_words('{"path": "a.txt", "mode": "fast"}'))
            # Instructions that quote the list's heading: only the handler's own list is rewritten.
            quoted = "Say 'You have access to the following functions:' when asked."
            messages = [{"role": "system", "content": quoted + "\\n\\nYou have access to the following functions:\\n"},
                        {"role": "user", "content": "Copy it"}]
            handler(llama=model, messages=messages, tools=tools, tool_choice={"type": "function",
                    "function": {"name": "copy"}})
            handler(llama=model, messages=messages, tools=tools[:1], tool_choice="auto")
            # A list the rewrite does not recognise (a tool without a name) is left as the handler wrote it.
            nameless = [dict(tools[0], function=dict(tools[0]["function"], name=""))]
            handler(llama=model, messages=messages, tools=nameless, tool_choice="auto")
            print(json.dumps(model.calls))
            """
        // When a tool is named, and when the model may choose, with tools of required, optional, enumerated, array
        // and object parameters
        let run = try await runLauncherProbe(probe)
        #expect(run.status == 0, "\(run.stderr)")
        struct Call: Decodable {
            var prompt: String
            var grammar: String?
        }
        let calls = try JSONDecoder().decode([Call].self, from: Data(run.stdout.utf8))
        // (the named tool's arguments; then, twice, the choice and the words chosen)
        try #require(calls.count == 5)
        let (named, chosen, nameless) = (calls[0], calls[1], calls[3])
        // Then each tool is listed as its name and one line of its parameters, the optional ones marked, and not
        // as a JSON schema
        let list = """

            functions.read_file:
            {"path": string, "limit"?: integer}

            functions.copy:
            {"mode": "fast"|"safe", "paths"?: string[], "options"?: object}

            """
        #expect(named.prompt.contains("You have access to the following functions:\n" + list), "\(named.prompt)")
        #expect(!named.prompt.contains("additionalProperties") && !named.prompt.contains("Relative path"))
        // And the instructions' own text is left as written, the heading they quote included
        #expect(named.prompt.contains("Say 'You have access to the following functions:' when asked."))
        // And the named tool's arguments are still generated under its whole schema's grammar (its enumeration)
        #expect(named.grammar?.contains("fast") == true && named.grammar?.contains("safe") == true)
        #expect(named.prompt.hasSuffix("functions.copy:\n"))
        // And the model choosing among tools sees the same one-line list
        #expect(chosen.prompt.contains("\nfunctions.read_file:\n{\"path\": string, \"limit\"?: integer}\n"))
        // And a list the rewrite does not recognise reaches the model as the handler wrote it
        #expect(nameless.prompt.contains("\nfunctions.:\n{\""), "\(nameless.prompt)")
    }

    @Test(.timeLimit(.minutes(2)))
    func anAnswerInWordsInAShortConversationIsWrittenFromTheConversationWithoutTheToolList() async throws {
        // Given the launcher's chat format, in front of a model that records each prompt it is given and whether its
        // tokens were held to choices, and that chooses words
        let probe = """
            tools = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object",
                      "properties": {"path": {"type": "string"}}, "required": ["path"]}}}]
            model = Model(choosing_words("Shakespeare wrote it."))
            system = {"role": "system", "content": "Be brief."}
            short = [system, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                     {"role": "user", "content": "Who wrote Hamlet?"}]
            long = [system, {"role": "user", "content": "Tell me about ospreys. " * 60},
                    {"role": "assistant", "content": "They fish."}, {"role": "user", "content": "Who wrote Hamlet?"}]
            answers = [handler(llama=model, messages=messages, tools=tools, tool_choice="auto")
                       for messages in (short, long)]
            print(json.dumps({"calls": model.calls, "answers": [a["choices"][0]["message"]["content"] for a in answers]}))
            """
        // When the model chooses words, in a short conversation and in one past the limit
        let run = try await runLauncherProbe(probe)
        #expect(run.status == 0, "\(run.stderr)")
        struct Call: Decodable {
            var prompt: String
            var held: Bool
        }
        struct Probe: Decodable {
            var calls: [Call]
            var answers: [String?]
        }
        let output = try JSONDecoder().decode(Probe.self, from: Data(run.stdout.utf8))
        // (a choice and the words, for each conversation)
        try #require(output.calls.count == 4)
        let (choice, words) = (output.calls[0], output.calls[1])
        let (longChoice, longWords) = (output.calls[2], output.calls[3])
        // Then the choice is made on the prompt with the tool list, its tokens held to the choices
        #expect(choice.prompt.contains("functions.read_file:\n{\"path\": string}") && choice.held)
        // And the short conversation's words are written from the conversation alone: the instructions, the turns
        // (the assistant's without "message:"), no tool list or format instructions, free
        let plain = """
            <|im_start|>system
            Be brief.<|im_end|>
            <|im_start|>user
            Hi<|im_end|>
            <|im_start|>assistant
            Hello!<|im_end|>
            <|im_start|>user
            Who wrote Hamlet?<|im_end|>
            <|im_start|>assistant

            """
        #expect(words.prompt == plain, "\(words.prompt)")
        #expect(!words.held)
        #expect(output.answers == ["Shakespeare wrote it.", "Shakespeare wrote it."])
        // And past the limit the words follow the prompt the choice was made on, as the handler writes them
        #expect(longWords.prompt == longChoice.prompt + "message:\n", "\(longWords.prompt)")
        #expect(longWords.prompt.contains("functions.read_file:\n{\"path\": string}") && !longWords.held)
    }

    @Test(.timeLimit(.minutes(2)))
    func theAssistantsEarlierToolCallsAreWrittenAsWordsInAnAnswerInWords() async throws {
        // Given the launcher's chat format, in front of a model that records each prompt it is given and chooses
        // words, and a conversation in which the assistant called two tools and was given a result
        let probe = """
            def call(name, arguments):
                return {"id": name, "type": "function", "function": {"name": name, "arguments": arguments}}

            tools = [{"type": "function", "function": {"name": "write_file", "parameters": {"type": "object",
                      "properties": {"path": {"type": "string"}, "content": {"type": "string"}}}}}]
            model = Model(choosing_words("Done."))
            called = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Write hi to a.txt"},
                      {"role": "assistant", "content": "", "tool_calls": [
                          call("write_file", '{"path": "a.txt", "content": "hi"}'), call("list_dir", "{}")]},
                      {"role": "user", "content": "Result of write_file:\\nWrote 2 bytes to a.txt."},
                      {"role": "assistant", "content": "Checking.", "tool_calls": [call("read_file", '{"path": "a.txt"}')]},
                      {"role": "user", "content": "Result of read_file:\\nhi"}]
            long = called[:1] + [{"role": "user", "content": "Tell me about ospreys. " * 60}] + called[1:]
            handler(llama=model, messages=called, tools=tools, tool_choice="none")
            handler(llama=model, messages=called)
            handler(llama=model, messages=called, tools=tools, tool_choice="auto")
            handler(llama=model, messages=long, tools=tools, tool_choice="auto")
            print(json.dumps([call["prompt"] for call in model.calls]))
            """
        // When the model answers in words with the tools no longer offered (the agent's rounds spent), with none,
        // and after choosing words with them offered, in a short conversation and in a long one
        let run = try await runLauncherProbe(probe)
        #expect(run.status == 0, "\(run.stderr)")
        let prompts = try JSONDecoder().decode([String].self, from: Data(run.stdout.utf8))
        // (one prompt each without tools; a choice and the words with them)
        try #require(prompts.count == 6)
        // Then each answer in words from the conversation alone sees the calls as words, not in the call format
        let history = """
            <|im_start|>user
            Write hi to a.txt<|im_end|>
            <|im_start|>assistant
            I called write_file with {"path": "a.txt", "content": "hi"}, then list_dir with {}.<|im_end|>
            <|im_start|>user
            Result of write_file:
            Wrote 2 bytes to a.txt.<|im_end|>
            <|im_start|>assistant
            Checking.<|im_end|>
            <|im_start|>assistant
            I called read_file with {"path": "a.txt"}.<|im_end|>
            <|im_start|>user
            Result of read_file:
            hi<|im_end|>
            <|im_start|>assistant

            """
        for words in [prompts[0], prompts[1], prompts[3]] {
            #expect(words.hasSuffix(history), "\(words)")
            #expect(!words.contains("functions."), "\(words)")
        }
        // And the model choosing between words and tools still sees its calls as the format it answers in
        let call = #"<|im_start|>assistant\#nfunctions.write_file:\#n{"path": "a.txt""#
        #expect(prompts[2].contains(call), "\(prompts[2])")
        // And past the limit the words follow the prompt the choice was made on, the calls as the handler writes them
        #expect(prompts[5] == prompts[4] + "message:\n")
        #expect(prompts[5].contains("functions.list_dir:\n{}"), "\(prompts[5])")
    }

    @Test(.timeLimit(.minutes(2)))
    func theChoiceBetweenWordsAndAToolIsCalibratedAgainstAQuestionThatAsksForNothing() async throws {
        // Given the launcher's chat format, in front of a model whose tokens are letters, that generates under the
        // launcher's logits processors, and whose first letter leans to "f" (functions) by as much as the question
        // says: by 2 for the content-free "N/A", by 1 for "Capital?", by 4 for "Read a.txt"
        let probe = """
            import numpy

            class Letters:
                verbose = False

                def __init__(self):
                    self.prompts = []

                def tokenize(self, text, add_bos=False, special=False):
                    return list(text)

                def detokenize(self, tokens):
                    return bytes(tokens)

                def token_eos(self):
                    return 0

                def create_completion(self, prompt, logits_processor=None, grammar=None, max_tokens=None, stop=None,
                                      **kwargs):
                    self.prompts.append(prompt)
                    if not logits_processor:
                        return completion('{"path": "a.txt"}' if grammar is not None else "Paris.")
                    question = prompt[prompt.rfind("<|im_start|>user\\n") :]
                    lean = 2 if "N/A" in question else 1 if "Capital?" in question else 4
                    tokens, text = [7] * len(prompt), ""
                    for _ in range(max_tokens or 64):
                        scores = numpy.full(256, -5.0)
                        scores[ord("m")], scores[ord("f")] = 0.0, float(lean)
                        for processor in logits_processor:
                            scores = processor(tokens, scores)
                        token = int(numpy.argmax(scores))
                        if token == self.token_eos():
                            break
                        tokens.append(token)
                        text += chr(token)
                        if stop and any(text.endswith(end) for end in stop):
                            text = text[: -1]
                            break
                    return completion(text)

            tools = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object",
                      "properties": {"path": {"type": "string"}}, "required": ["path"]}}}]
            model = Letters()
            answers = []
            for question in ["Capital?", "Read a.txt", "Capital?"]:
                answer = handler(llama=model, messages=[{"role": "user", "content": question}], tools=tools,
                                 tool_choice="auto")["choices"][0]["message"]
                answers.append(answer.get("content") or answer["tool_calls"][0]["function"]["name"])
            print(json.dumps({"answers": answers, "prompts": model.prompts}))
            """
        // When it is asked a question that wants words, one that wants a tool, and the first again
        let run = try await runLauncherProbe(probe)
        #expect(run.status == 0, "\(run.stderr)")
        struct Probe: Decodable {
            var answers: [String]
            var prompts: [String]
        }
        let output = try JSONDecoder().decode(Probe.self, from: Data(run.stdout.utf8))
        // Then the question that leans to a tool less than a question asking for nothing gets words (uncalibrated,
        // its "f" would win), and the one that leans more gets its tool
        #expect(output.answers == ["Paris.", "read_file", "Paris."])
        // And the content-free question is asked once in this place, its answer kept for the same conversation
        let blank = output.prompts.filter { $0.contains("<|im_start|>user\nN/A<|im_end|>") }
        #expect(blank.count == 1, "\(output.prompts)")
    }

    @Test func anotherChatFormatRunsTheCommandAsConfigured() throws {
        let directory = try TemporaryDirectory(prefix: "osprey-launcher")
        defer { directory.remove() }
        var settings = OspreyConfig().localModel
        settings.chatFormat = "chatml-function-calling"
        settings.command = ["llama-server", "--jinja"]
        let script = directory.url.appendingPathComponent("local-model-launcher.py")
        #expect(try LocalModelLauncher.command(settings, script: script) == ["llama-server", "--jinja"])
        #expect(!FileManager.default.fileExists(atPath: script.path))
    }

    @Test func theLauncherNeedsTheServerModuleInTheCommand() throws {
        let directory = try TemporaryDirectory(prefix: "osprey-launcher")
        defer { directory.remove() }
        var settings = OspreyConfig().localModel
        for command in [["llama-server", "--jinja"], ["-m", "llama_cpp.server"]] {
            settings.command = command
            #expect {
                try LocalModelLauncher.command(settings, script: directory.url.appendingPathComponent("launcher.py"))
            } throws: { error in
                (error as? ConfigError)?.message.contains("-m llama_cpp.server") == true
            }
        }
    }

    /// Runs `probe` in Python after the launcher is written to a new directory and imported, with
    /// `llama_chat_format`, `handler` (the launcher's chat format), `completion(text)`, `Model(answer)` (a model that
    /// records what it is asked) and `choosing_words(text)` defined.
    private func runLauncherProbe(_ probe: String) async throws -> ProcessOutput {
        let directory = try TemporaryDirectory(prefix: "osprey-launcher")
        defer { directory.remove() }
        let script = directory.url.appendingPathComponent("local_model_launcher.py")
        _ = try LocalModelLauncher.command(OspreyConfig().localModel, script: script)
        let prelude = """
            import json, sys
            sys.path.insert(0, sys.argv[1])
            import local_model_launcher as launcher
            from llama_cpp import llama_chat_format

            handler = llama_chat_format.get_chat_completion_handler("osprey-function-calling")

            # A model's completion of `text`, as llama-cpp-python returns it.
            def completion(text):
                return {"id": "c", "object": "text_completion", "created": 0, "model": "m",
                        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


            # Records each completion asked of it (the prompt, the grammar, whether its tokens were held) and answers
            # with answer(kwargs), as llama-cpp-python returns a completion; counts the calibration's questions.
            class Model:
                verbose = False

                def __init__(self, answer):
                    self.answer = answer
                    self.calls = []
                    self.blanks = 0

                def create_completion(self, **kwargs):
                    # The choice's calibration asks a content-free question first: counted, not recorded.
                    if kwargs["prompt"].endswith("<|im_start|>user\\nN/A<|im_end|>\\n<|im_start|>assistant\\n"):
                        self.blanks += 1
                        return completion("message")
                    grammar = getattr(kwargs.get("grammar"), "_grammar", None)
                    held = bool(kwargs.get("logits_processor")) or grammar is not None
                    self.calls.append({"prompt": kwargs["prompt"], "grammar": grammar, "held": held})
                    return completion(self.answer(kwargs))


            # An answer that chooses words where the handler asks for a choice (it stops at ":"), else `text`.
            def choosing_words(text):
                return lambda kwargs: "message" if kwargs.get("stop") == [":"] else text


            """
        return try await runPython(["-c", prelude + probe, directory.path])
    }
}
