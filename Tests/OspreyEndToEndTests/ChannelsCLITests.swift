import Foundation
import OspreyCore
import OspreyTesting
import Testing

/// `osprey channels` against a real gateway process whose Telegram channel is a fake Bot API on loopback: pairing
/// from the CLI, the bot token from the secret store, and updates neither repeated nor lost across a restart.
@Suite(.serialized)
struct ChannelsCLITests {
    let osprey: OspreyExecutable
    init() throws { osprey = try OspreyExecutable.locate() }

    @Test func anOperatorPairsRevokesAndTestsFromTheCLIAcrossARestart() async throws {
        let telegram = FakeTelegram()
        let model = CLITests.ownMockModel()
        try await model.run { model in
            try await telegram.run { base in
                let home = try TemporaryDirectory(prefix: "osprey-channels")
                defer { home.remove() }
                try CLITests.configure(home, server: model)
                let config = home.url.appendingPathComponent("config.toml")
                let channel = """

                    [[channels]]
                    kind = "telegram"
                    token = "${secret:telegram_bot}"
                    base_url = "\(base)"
                    poll_seconds = 1
                    """
                try (String(contentsOf: config, encoding: .utf8) + channel).write(
                    to: config,
                    atomically: true,
                    encoding: .utf8
                )
                let args = ["--home", home.path]
                // The token is a secret, never written in config.toml.
                let stored = try await osprey.run(["secrets", "set", "telegram_bot"] + args, input: FakeTelegram.token)
                #expect(stored.status == 0, "\(stored.stderr)")
                let port = freeLoopbackPort()
                var gateway = try await osprey.startGateway(home: home.path, port: port)
                defer { gateway.kill() }

                telegram.push("hello?", from: 321, name: "Rita")
                try await TestRuns.waitUntil { telegram.sent.contains { $0.chat == "321" } }
                let code = try #require(telegram.sent[0].text.firstMatch(of: /[A-Z2-9]{4}-[A-Z2-9]{4}/)).output
                let waiting = try await osprey.run(["channels", "list"] + args)
                #expect(waiting.stdout.contains("waiting: telegram/321  Rita"), "\(waiting.stdout)")
                let paired = try await osprey.run(["channels", "pair", String(code), "--approver"] + args)
                #expect(paired.status == 0, "\(paired.stderr)")
                #expect(paired.stdout == "paired telegram/321 (Rita), approver\n")
                let wrong = try await osprey.run(["channels", "pair", "AAAA-AAAA"] + args)
                #expect(wrong.status != 0)
                #expect(wrong.stderr.contains("No valid pairing code matches"))

                telegram.push("hi", from: 321)
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text == "Hello from the mock." } }
                let tested = try await osprey.run(["channels", "test", "telegram"] + args)
                #expect(tested.stdout == "telegram: ok, the bot is osprey_bot (id 4242)\n", "\(tested.stderr)")

                // A restart: what came in before is not answered again, what came while down is answered
                #expect(await gateway.stop() == 0)
                telegram.push("while you were out", from: 321)
                gateway = try await osprey.startGateway(home: home.path, port: port)
                try await TestRuns.waitUntil {
                    telegram.sent.filter { $0.text == "Hello from the mock." }.count == 2
                }
                #expect(model.requests.filter { $0.path.hasSuffix("/chat/completions") }.count == 2)

                let revoked = try await osprey.run(["channels", "revoke", "telegram", "321"] + args)
                #expect(revoked.stdout == "revoked telegram/321\n", "\(revoked.stderr)")
                telegram.push("still there?", from: 321)
                try await TestRuns.waitUntil { telegram.sent.contains { $0.text.contains("revoked") } }
                let listed = try await osprey.run(["channels", "list"] + args)
                #expect(listed.stdout.contains("telegram/321  Rita  revoked"), "\(listed.stdout)")
                // Every message in and out is in the ledger, which verifies
                let audit = try await osprey.run(["audit", "verify"] + args)
                #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
            }
        }
    }
}
