extension LocalModelLauncher {
    /// The second part of the launcher: the openings kept on disk, the chat format's handler and the server's start.
    static let serverSource = #"""
        class Openings:
            """Agents' evaluated openings kept on disk, so that a restarted server loads one instead of evaluating it.

            llama.cpp evaluates only what a prompt adds to the one before, but a new server process holds nothing: a new
            home's default agent's opening (its instructions and tool list, ~1,250 tokens) took 3.6-5 s to evaluate on two
            cores at every start. Before a prompt is evaluated, the kept opening it shares the longest start with is loaded
            (llama.cpp's own serialization of its context) if that is more than the server holds. Otherwise, when the prompt's
            opening (all before its first user turn: no user's words) needs FRESH or more tokens evaluated, it is evaluated
            alone, its state written under a name for this model and these settings, and the rest of the prompt evaluated
            after it as usual; when a state is kept already, only the second time the same opening is evaluated. At most
            KEEP states and KEEP_BYTES are kept (the newest always), the least recently used going first; states of other
            models or settings are deleted. A state that does not load (another llama.cpp, a damaged file) is deleted and the
            prompt evaluated; one whose load ends the process is found renamed at the next start, and deleted.
            """

            KEEP = 4
            KEEP_BYTES = 256 << 20
            FRESH = 256
            SLACK = 64  # an opening a kept state holds all but this many tokens of is not kept again
            MARKS = 64  # openings remembered as seen once

            def __init__(self, llama, directory):
                self.llama = llama
                settings = {
                    key: value
                    for key, value in llama.__getstate__().items()
                    if key not in ("seed", "verbose", "n_threads", "n_threads_batch", "chat_format", "chat_handler")
                }
                stat = os.stat(llama.model_path)
                settings["model"] = [os.path.abspath(llama.model_path), stat.st_size, stat.st_mtime_ns]
                settings["llama_cpp"] = llama_cpp.__version__
                name = hashlib.sha256(json.dumps(settings, sort_keys=True, default=repr).encode()).hexdigest()[:16]
                os.makedirs(directory, mode=0o700, exist_ok=True)
                for other in os.listdir(directory):
                    if other != name:
                        shutil.rmtree(os.path.join(directory, other), ignore_errors=True)
                self.directory = os.path.join(directory, name)
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
                # What a stop left half written, and a state whose load ended its process (renamed while it loads): gone.
                for entry in os.listdir(self.directory):
                    path = os.path.join(self.directory, entry)
                    if entry.endswith(".part") or entry.endswith(".loading"):
                        os.unlink(path)
                    elif entry.endswith(".tokens.npy") and not os.path.exists(path[: -len(".tokens.npy")] + ".state"):
                        os.unlink(path)
                self.tokens = {}  # a kept state's path -> its opening's tokens, read once
                self.loading = None  # the kept state being loaded, renamed .loading meanwhile
                self.user_turn = llama.tokenize(b"<|im_start|>user", add_bos=False, special=True)

            @staticmethod
            def shared(a, b):
                n = 0
                for x, y in zip(a, b):
                    if x != y:
                        break
                    n += 1
                return n

            def kept(self):
                found = {}
                # Deleting the directory loses nothing: it is made again.
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
                for entry in os.listdir(self.directory):
                    if entry.endswith(".tokens.npy"):
                        path = os.path.join(self.directory, entry[: -len(".tokens.npy")])
                        if path not in self.tokens:
                            try:
                                self.tokens[path] = numpy.load(path + ".tokens.npy").tolist()
                            except Exception:
                                self.forget(path)
                                continue
                        found[path] = self.tokens[path]
                return found

            def forget(self, path):
                self.tokens.pop(path, None)
                for suffix in (".tokens.npy", ".state", ".loading"):
                    try:
                        os.unlink(path + suffix)
                    except OSError:
                        pass

            def restore(self, tokens):
                """Loads the kept opening that holds more of `tokens` than the server does; returns how many it holds now."""
                llama = self.llama
                held = self.shared(llama.input_ids[: llama.n_tokens].tolist(), tokens)
                best, best_shared = None, held
                for path, kept in self.kept().items():
                    n = self.shared(kept, tokens)
                    if n > best_shared:
                        best, best_shared = path, n
                if best is None:
                    return held
                began = time.monotonic()
                try:
                    self.loading = best
                    os.rename(best + ".state", best + ".loading")
                    with open(best + ".loading", "rb") as file:
                        data = bytearray(file.read())
                    size = len(data)
                    if llama_cpp.llama_state_set_data(llama.ctx, (ctypes.c_uint8 * size).from_buffer(data), size) != size:
                        raise RuntimeError("llama_state_set_data did not take it")
                    os.rename(best + ".loading", best + ".state")
                    self.loading = None
                except Exception as error:
                    self.loading = None
                    print(f"osprey: kept state {os.path.basename(best)} not loaded ({error}); deleted", file=sys.stderr)
                    self.forget(best)
                    llama.reset()
                    return 0
                kept = self.tokens[best]
                llama.input_ids[: len(kept)] = kept
                llama.n_tokens = len(kept)
                llama._requires_eval = True
                os.utime(best + ".state")
                print(
                    f"osprey: kept state loaded, {best_shared} of the prompt's {len(tokens)} tokens"
                    f" ({size} bytes, {time.monotonic() - began:.3f} s)",
                    file=sys.stderr,
                )
                return best_shared

            def opening_end(self, tokens):
                """Where the first user turn begins in `tokens` (0 when none does)."""
                turn = self.user_turn
                for at in range(len(tokens) - len(turn) + 1):
                    if tokens[at : at + len(turn)] == turn:
                        return at
                return 0

            def keep(self, tokens, held):
                """Evaluates the opening of `tokens` alone and keeps its state, when it is long, new and not kept already."""
                llama = self.llama
                cut = self.opening_end(tokens)
                opening = tokens[:cut]
                if cut - held < self.FRESH:
                    return
                kept = self.kept()
                if any(self.shared(other, opening) >= cut - self.SLACK for other in kept.values()):
                    return
                if kept and not self.seen_before(opening):
                    return
                llama.n_tokens = held
                llama.eval(opening[held:])
                began = time.monotonic()
                try:
                    capacity = llama_cpp.llama_state_get_size(llama.ctx)
                    buffer = (ctypes.c_uint8 * capacity)()
                    size = llama_cpp.llama_state_get_data(llama.ctx, buffer, capacity)
                    if size <= 0 or size > capacity:
                        raise RuntimeError(f"llama_state_get_data gave {size} bytes")
                    path = os.path.join(self.directory, uuid.uuid4().hex)
                    self.write(path + ".state", lambda file: file.write(memoryview(buffer)[:size]))
                    self.write(path + ".tokens.npy", lambda file: numpy.save(file, numpy.asarray(opening, dtype=numpy.int32)))
                    self.tokens[path] = opening
                except Exception as error:
                    print(f"osprey: the opening's state not kept ({error})", file=sys.stderr)
                    return
                print(
                    f"osprey: kept the state of a {cut}-token opening ({size} bytes, {time.monotonic() - began:.3f} s)",
                    file=sys.stderr,
                )
                by_use = sorted(self.kept(), key=lambda path: os.stat(path + ".state").st_mtime_ns, reverse=True)
                total = 0
                for at, kept in enumerate(by_use):
                    total += os.stat(kept + ".state").st_size
                    if at > 0 and (at >= self.KEEP or total > self.KEEP_BYTES):
                        self.forget(kept)

            def seen_before(self, opening):
                """Whether `opening` was evaluated before (by this server or one before it); marks it seen. An opening is kept
                the second time it is evaluated (the first, when none is kept yet): one made for a single prompt (memories
                recalled into its instructions) is then never written."""
                mark = os.path.join(self.directory, hashlib.sha256(numpy.asarray(opening, dtype=numpy.int32)).hexdigest()[:32])
                if os.path.exists(mark + ".seen"):
                    return True
                try:
                    self.write(mark + ".seen", lambda file: None)
                    marks = sorted(
                        (entry for entry in os.listdir(self.directory) if entry.endswith(".seen")),
                        key=lambda entry: os.stat(os.path.join(self.directory, entry)).st_mtime_ns,
                        reverse=True,
                    )
                    for old in marks[self.MARKS :]:
                        os.unlink(os.path.join(self.directory, old))
                except OSError as error:
                    print(f"osprey: an opening not marked seen ({error})", file=sys.stderr)
                return False

            @staticmethod
            def write(path, fill):
                """Writes a file only its owner reads, whole or not at all."""
                part = path + ".part"
                with os.fdopen(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
                    fill(file)
                os.rename(part, path)

            def install(self):
                """Wraps the model's generate, which every completion evaluates its prompt through."""
                generate = self.llama.generate

                def generate_with_openings(tokens, *args, **kwargs):
                    tokens = list(tokens)
                    try:
                        self.keep(tokens, self.restore(tokens))
                    except Exception as error:
                        # What the server holds may no longer match its tokens: the prompt is evaluated from the start.
                        print(f"osprey: openings skipped for this prompt ({error})", file=sys.stderr)
                        self.llama.reset()
                    return generate(tokens, *args, **kwargs)

                self.llama.generate = generate_with_openings


        STATES = os.environ.get("OSPREY_LOCAL_MODEL_STATES")
        LOADING = []  # the Openings of this server's models, for a stop during a load


        @llama_chat_format.register_chat_completion_handler("osprey-function-calling")
        def osprey_function_calling(llama, **kwargs):
            if STATES and not hasattr(llama, "_osprey_openings"):
                llama._osprey_openings = None
                try:
                    llama._osprey_openings = Openings(llama, STATES)
                    llama._osprey_openings.install()
                    LOADING.append(llama._osprey_openings)
                except Exception as error:
                    print(f"osprey: openings not kept ({error})", file=sys.stderr)
            return llama_chat_format.chatml_function_calling(llama=FastChoices(llama, kwargs.get("tools")), **kwargs)


        if __name__ == "__main__":
            import uvicorn
            from llama_cpp.server.__main__ import main

            def stop_now(server, signum, frame):
                """The gateway stops its model server only when nothing it asked of it is wanted any more (its shutdown, a
                restart), so the process ends at once: uvicorn's graceful shutdown waited for the prompt being evaluated
                (30 s and more), which cost every such stop the gateway's 5 s before its SIGKILL. A kept state being loaded
                goes back in place: it was not its load that ended the process."""
                for openings in LOADING:
                    if openings.loading is not None:
                        try:
                            os.rename(openings.loading + ".loading", openings.loading + ".state")
                        except OSError:
                            pass
                os._exit(0)

            uvicorn.Server.handle_exit = stop_now

            sys.argv[0] = "llama_cpp.server"
            main()
        """#
}
