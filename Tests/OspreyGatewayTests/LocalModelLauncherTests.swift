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

        #expect(command == ["/opt/venv/bin/python3", "-X", "utf8", script.path, "--n_threads", "2"])
        let written = try String(contentsOf: script, encoding: .utf8)
        #expect(written.contains(#"register_chat_completion_handler("osprey-function-calling")"#))
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
}
