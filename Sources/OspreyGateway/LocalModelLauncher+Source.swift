extension LocalModelLauncher {
    /// The launcher's Python source.
    static let source = choicesSource + "\n\n\n" + serverSource

    /// The first part of the launcher: its imports, and how the model chooses between words and tools and sees them.
    static let choicesSource = #"""
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
        # And, with OSPREY_LOCAL_MODEL_STATES set, the state of agents' evaluated openings is kept on disk, so a restarted
        # server loads an opening instead of evaluating it again (class Openings). And SIGTERM ends the server at once, not
        # after the prompt being evaluated. And the tools are listed to the model in fewer tokens: the handler lists each
        # as its name and its parameters' JSON schema (~60 tokens a tool, most of a prompt's tokens: every one of them is
        # evaluated before the first answer), here as its name and one line of its parameters, their types and which are
        # optional ({"path": string, "limit"?: integer}; 18 tools 1,054 -> ~450 tokens); the arguments are still held to
        # the whole schema by the handler's grammar. And, in a short conversation, an answer in words is written from the
        # conversation without the tool list and its format instructions: after them the 135M model copied them into
        # its words ("<message>", "You can respond to users messages ..."), or ran on into made-up calls. And in an answer
        # in words written from the conversation alone, the assistant's earlier tool calls are written as words ("I called
        # write_file with {...}.") instead of the handler's "functions.write_file:" and the arguments, which the model
        # copied as its answer after the tool's result. Anything else passes through unchanged.
        import ctypes
        import hashlib
        import html
        import json
        import os
        import re
        import shutil
        import sys
        import time
        import uuid

        import llama_cpp
        import numpy
        from llama_cpp import LogitsProcessorList, llama_chat_format

        CHOICE = 'root   ::= functions | "message:"\n'
        FOLLOW_UP = 'root   ::= functions | "<|im_end|>"\n'
        END = "<|im_end|>"


        # Whether each piece of a choice is one token, by model and text: a choice among 18 tools asks the tokenizer
        # about ~400 pieces at its first step and more over its later steps, the same every time (a whole choice taken
        # character by character: 57 ms the first time, ~1 ms once kept).
        PIECES = {}
        WORDS = "message:"
        USER = "<|im_start|>user\n"
        # The question a choice is calibrated against: words that ask for nothing.
        CONTENT_FREE = "N/A"


        class Choice:
            """Allows only tokens that continue one of `choices` from what has been generated so far.

            With `prior` (the probability of words the model gives a content-free question in the same place), the
            choice between words and tools is calibrated (Zhao et al., "Calibrate Before Use", 2021): words when the
            model's probability of words, divided by the prior, is the larger of the two."""

            def __init__(self, llama, choices, prior=None):
                self.llama = llama
                self.choices = choices
                self.prior = prior
                self.start = None

            def single_token(self, text):
                """The token that is `text`, or None; kept for the model's later choices (PIECES)."""
                key = (getattr(self.llama, "model_path", None), text)
                if key not in PIECES:
                    if len(PIECES) >= 65536:
                        PIECES.clear()
                    ids = self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
                    PIECES[key] = ids[0] if len(ids) == 1 else None
                return PIECES[key]

            def allowed(self, choices, made):
                """The tokens that continue one of `choices` after `made`."""
                allowed = set()
                for choice in choices:
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
                return allowed

            def words_probability(self, scores):
                """The probability of words rather than a tool at the first step, over the tokens that begin a choice."""
                words = self.allowed([choice for choice in self.choices if choice == WORDS], "")
                tools = self.allowed([choice for choice in self.choices if choice != WORDS], "")
                if not words or not tools:
                    return None
                logits = numpy.asarray(scores, dtype=numpy.float64)
                indices = numpy.fromiter(words | tools, dtype=numpy.int64)
                weights = numpy.exp(logits[indices] - logits[indices].max())
                chosen = numpy.fromiter((index in words for index in indices), dtype=bool)
                return float(weights[chosen].sum() / weights.sum())

            def __call__(self, input_ids, scores):
                if self.start is None:
                    self.start = len(input_ids)
                    probability = self.words_probability(scores) if self.prior is not None else None
                    if probability is not None:
                        prior = min(max(self.prior, 1e-6), 1 - 1e-6)
                        words = probability / prior > (1 - probability) / (1 - prior)
                        self.choices = [choice for choice in self.choices if (choice == WORDS) == words]
                made = self.llama.detokenize(list(input_ids[self.start :])).decode("utf-8", "replace")
                allowed = self.allowed(self.choices, made)
                if not allowed:
                    allowed.add(self.llama.token_eos())
                kept = numpy.full_like(scores, -numpy.inf)
                indices = numpy.fromiter(allowed, dtype=numpy.int64)
                kept[indices] = scores[indices]
                return kept


        class Prior:
            """Records the probability of words at the first step, leaving the scores as they are."""

            def __init__(self, choice):
                self.choice = choice
                self.probability = None

            def __call__(self, input_ids, scores):
                if self.probability is None:
                    self.probability = self.choice.words_probability(scores)
                return scores


        def content_free(prompt):
            """The prompt with its last user turn's words replaced by the content-free question, or None."""
            start = prompt.rfind(USER)
            end = prompt.find(END, start) if start >= 0 else -1
            if end < 0:
                return None
            return prompt[: start + len(USER)] + CONTENT_FREE + prompt[end:]


        TOOLS_HEAD = "\n\nYou have access to the following functions:\n"
        TOOLS_TAIL = "\n\nYou can respond to users messages with either a single message or one or more function calls."
        TOOL_BLOCK = re.compile(r"\nfunctions\.([^\n]*):\n([^\n]*)\n")
        ASSISTANT = "<|im_start|>assistant\n"
        # An answer in words is written from the conversation without the tool list while the conversation after the
        # system message is at most this many characters (~250 tokens): it is then evaluated apart from the prompt the
        # choice was made on, and again by the next request's choice, ~1 s each at this length.
        PLAIN_WORDS = 1000
        # An assistant turn of tool calls as the handler renders it ("functions.<name>:", the arguments, again for each
        # call), after the turn's start or after its words' end.
        CALL_TURN = re.compile(
            r"(<\|im_start\|>assistant\n(?:message:\n)?|<\|im_end\|>\n)(functions\.[^\n]*:\n.*?)<\|im_end\|>\n", re.S
        )
        CALL_HEAD = re.compile(r"functions\.([^\n:]*):\n")
        DECODER = json.JSONDecoder()


        def signature(schema):
            """A tool's parameters in one line: their names and types, "?" after the optional ones."""
            required = set(schema.get("required") or []) if isinstance(schema, dict) else set()
            properties = schema.get("properties") if isinstance(schema, dict) else None
            parts = []
            for name, spec in (properties if isinstance(properties, dict) else {}).items():
                spec = spec if isinstance(spec, dict) else {}
                kind = spec.get("type", "any")
                if isinstance(spec.get("enum"), list):
                    kind = "|".join(json.dumps(value) for value in spec["enum"])
                elif kind == "array":
                    items = spec.get("items") if isinstance(spec.get("items"), dict) else {}
                    kind = str(items.get("type", "any")) + "[]"
                elif isinstance(kind, list):
                    kind = "|".join(str(one) for one in kind)
                parts.append("%s%s: %s" % (json.dumps(name), "" if name in required else "?", kind))
            return "{" + ", ".join(parts) + "}"


        def tool_section(prompt, tools):
            """Where the handler's list of `tools` stands in the prompt (its heading's start, the end of its format
            instructions: the system message's end), or None. Only a list that is exactly the handler's for these
            tools, in their order, is found (an agent's instructions may quote the list's heading)."""
            names = [(tool.get("function") or {}).get("name") for tool in tools or [] if isinstance(tool, dict)]
            if not names or len(names) != len(tools) or not all(isinstance(name, str) and name for name in names):
                return None
            start = prompt.find(TOOLS_HEAD)
            while start >= 0:
                end = prompt.find(TOOLS_TAIL, start)
                if end < 0:
                    return None
                listed = prompt[start + len(TOOLS_HEAD) : end]
                blocks = TOOL_BLOCK.findall(listed)
                rebuilt = "".join("\nfunctions.%s:\n%s\n" % block for block in blocks)
                if rebuilt == listed and [name for name, _ in blocks] == names:
                    close = prompt.find(END, end)
                    return (start, end, close) if close >= 0 else None
                start = prompt.find(TOOLS_HEAD, start + 1)
            return None


        def compact_tools(prompt, tools, section):
            """The prompt with its list of `tools` (the handler's: a name and a JSON schema each) in one line a tool."""
            start, end, _ = section
            lines = "".join(
                "\nfunctions.%s:\n%s\n" % (function["name"], signature(function.get("parameters") or {}))
                for function in (tool["function"] for tool in tools)
            )
            return prompt[: start + len(TOOLS_HEAD)] + lines + prompt[end:]


        def without_tools(prompt, section):
            """The prompt of an answer in words as a plain conversation: no tool list or format instructions, and no
            "message:" before the assistant's turns (this one's included)."""
            start, _, close = section
            return (prompt[:start] + prompt[close:]).replace(ASSISTANT + "message:\n", ASSISTANT)


        def calls_in_words(prompt):
            """The prompt with each assistant turn of tool calls written as words: "I called read_file with {"path":
            "a.txt"}." (and ", then <name> with ..." for each further call). A turn whose calls do not read as the
            handler writes them is left as it is."""

            def words(turn):
                opening, body = turn.group(1), turn.group(2)
                calls, position = [], 0
                while position < len(body):
                    head = CALL_HEAD.match(body, position)
                    if head is None:
                        return turn.group(0)
                    try:
                        _, end = DECODER.raw_decode(body, head.end())
                    except ValueError:
                        following = CALL_HEAD.search(body, head.end())
                        end = following.start() if following else len(body)
                    arguments = body[head.end() : end].strip()
                    calls.append(head.group(1) + (" with " + arguments if arguments else ""))
                    position = end
                start = ASSISTANT if opening.startswith("<|im_start|>") else opening + ASSISTANT
                return start + "I called " + ", then ".join(calls) + "." + END + "\n"

            return CALL_TURN.sub(words, prompt)


        class FastChoices:
            """The model as chatml_function_calling sees it, with its choice grammars replaced."""

            def __init__(self, llama, tools=None):
                self._llama = llama
                self._tools = tools

            def __getattr__(self, name):
                return getattr(self._llama, name)

            def create_completion(self, *args, **kwargs):
                words = False
                text = getattr(kwargs.get("grammar"), "_grammar", None)
                choosing = text is not None and (text.startswith(CHOICE) or text.startswith(FOLLOW_UP))
                if isinstance(kwargs.get("prompt"), str):
                    prompt = html.unescape(kwargs["prompt"])
                    # The handler's words step: the prompt it chose words after, and "message:".
                    words = prompt.endswith(ASSISTANT + "message:\n")
                    section = tool_section(prompt, self._tools)
                    if section is not None and words and len(prompt) - section[2] <= PLAIN_WORDS:
                        prompt = calls_in_words(without_tools(prompt, section))
                    elif section is not None:
                        prompt = compact_tools(prompt, self._tools, section)
                    elif prompt.endswith(ASSISTANT) and not choosing:
                        # Words with no tools offered (none, or none any more: the agent's rounds are spent).
                        prompt = calls_in_words(prompt)
                    kwargs["prompt"] = prompt
                if choosing:
                    kwargs["grammar"] = None
                    if not (text.startswith(FOLLOW_UP) and words):
                        choices = re.findall(r'"([^"\\]*)"', text)
                        prior = self.prior(kwargs.get("prompt"), choices) if text.startswith(CHOICE) else None
                        kwargs["logits_processor"] = LogitsProcessorList(
                            [Choice(self._llama, choices, prior)] + list(kwargs.get("logits_processor") or [])
                        )
                return self._llama.create_completion(*args, **kwargs)

            def prior(self, prompt, choices):
                """The probability of words the model gives the content-free question in `prompt`'s place (one token
                generated; the conversation before it is the prompt's, so only the question's few tokens are
                evaluated), kept for the same prompt; None without a user turn, or on any error."""
                if not isinstance(prompt, str):
                    return None
                blank = content_free(prompt)
                if blank is None:
                    return None
                if blank not in PRIORS:
                    try:
                        probe = Prior(Choice(self._llama, choices))
                        self._llama.create_completion(
                            prompt=blank, max_tokens=1, temperature=0, logits_processor=LogitsProcessorList([probe])
                        )
                    except Exception as error:
                        print(f"osprey: choice not calibrated ({error})", file=sys.stderr)
                        return None
                    if len(PRIORS) >= 16:
                        PRIORS.pop(next(iter(PRIORS)))
                    PRIORS[blank] = probe.probability
                return PRIORS[blank]


        # The priors of the latest content-free prompts.
        PRIORS = {}
        """#
}
