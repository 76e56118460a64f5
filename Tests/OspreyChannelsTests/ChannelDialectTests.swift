import OspreyChannels
import OspreyCore
import Testing

struct ChannelDialectTests {
    @Test func piecesFitTheLimitAndJoinBackToTheText() {
        let text = (0..<3000).map { "word\($0)" }.joined(separator: " ") + "\n\n" + String(repeating: "x", count: 5000)
        for dialect in [ChannelDialect.telegram, .discord, .matrix] {
            let pieces = dialect.chunks(of: text)
            #expect(pieces.joined() == text)
            #expect(pieces.allSatisfy { !$0.isEmpty })
            #expect(pieces.count > 1)
            #expect(dialect.firstChunk(of: text) == pieces[0])
            // Discord and Matrix count the escaped form; Telegram the text after its escapes are parsed.
            let measured = pieces.map { dialect == .telegram ? $0.count : dialect.escape($0).count }
            #expect(measured.allSatisfy { $0 <= dialect.limit }, "\(dialect): \(measured)")
        }
    }

    @Test func piecesBreakAtSpacesOrLinesWhenTheyCan() {
        let text = String(repeating: "abcdefghi ", count: 500)
        let pieces = ChannelDialect.discord.chunks(of: text)
        #expect(pieces.dropLast().allSatisfy { $0.hasSuffix(" ") })
        #expect(ChannelDialect.telegram.chunks(of: "") == [""])
        #expect(ChannelDialect.telegram.chunks(of: "short") == ["short"])
    }

    @Test func everyMarkupCharacterIsEscaped() {
        #expect(
            ChannelDialect.telegram.escape("a_b*c[d](e)~`>#+-=|{}.!\\")
                == ##"a\_b\*c\[d\]\(e\)\~\`\>\#\+\-\=\|\{\}\.\!\\"##
        )
        #expect(ChannelDialect.discord.escape("**x** @everyone <@1>") == #"\*\*x\*\* \@everyone \<\@1\>"#)
        #expect(
            ChannelDialect.matrix.escape("<b>\"x\" & 'y'</b>\nz")
                == "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;<br>z"
        )
        #expect(ChannelDialect.telegram.escape("plain words 123") == "plain words 123")
    }

    @Test func channelsAreReadFromConfigWithTheirTokenNeverInClear() throws {
        let config = try OspreyConfig(
            toml: """
                [[channels]]
                kind = "telegram"
                token = "${secret:tg}"
                allow = ["42"]
                approvers = ["42"]
                rate_per_minute = 5

                [[channels]]
                name = "team"
                kind = "matrix"
                token = "${env:MATRIX_TOKEN}"
                base_url = "https://matrix.example.org/"
                groups = ["!room:example.org"]
                """
        )
        #expect(config.channels.map(\.name) == ["telegram", "team"])
        #expect(config.channels[0].baseURL == "https://api.telegram.org")
        #expect(config.channels[0].ratePerMinute == 5)
        #expect(config.channels[1].baseURL == "https://matrix.example.org")
        #expect(config.channels[1].groups == ["!room:example.org"])
        let refused: [(String, String)] = [
            (#"kind = "telegram"\#ntoken = "123:abc""#, "never the token in clear"),
            (#"kind = "slack"\#ntoken = "${secret:x}""#, "kind must be one of"),
            (#"kind = "discord"\#ntoken = "${secret:x}"\#nbase_url = "ftp://x""#, "base_url"),
            (#"kind = "discord"\#ntoken = "${secret:x}"\#nrate_per_minute = 0"#, "rate_per_minute"),
            (#"kind = "discord"\#ntoken = "${secret:x}"\#nsurprise = 1"#, "unknown key"),
        ]
        for (body, message) in refused {
            #expect {
                try OspreyConfig(toml: "[[channels]]\n" + body)
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }
}
