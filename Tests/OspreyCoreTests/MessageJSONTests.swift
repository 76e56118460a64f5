import Foundation
import OspreyCore
import Testing

/// A message's JSON built by hand is the JSON its `Codable` form writes, and reads back as the same message.
struct MessageJSONTests {
    static let awkward = "quote \" backslash \\ slash / tab \t newline \n nul \u{0} bell \u{7} naïve 🦅 \u{2028} end"

    static let messages: [Message] = [
        .user("hello"), .system(""), .assistant(awkward),
        Message(role: .assistant, content: []),
        Message(
            role: .assistant,
            content: [
                .text("calling"),
                .toolCall(ToolCall(id: ToolCall.ID("call_1"), name: "list_dir", arguments: #"{"path":"."}"#)),
                .toolCall(ToolCall(id: ToolCall.ID("call_2"), name: "read_file", arguments: awkward)),
            ]
        ),
        Message(
            role: .tool,
            content: [
                .toolResult(ToolResult(callID: ToolCall.ID("call_1"), output: "a\nb")),
                .toolResult(ToolResult(callID: ToolCall.ID("call_2"), output: awkward, isError: true)),
                .toolResult(ToolResult(callID: ToolCall.ID("call_3"), output: "", isError: false, untrusted: true)),
                .toolResult(ToolResult(callID: ToolCall.ID("call_4"), output: "x", isError: true, untrusted: true)),
            ]
        ),
    ]

    @Test(arguments: messages)
    func theHandBuiltJSONIsTheCodableJSON(message: Message) throws {
        #expect(message.jsonValue == (try JSONValue(encoding: message)))
        #expect(JSONValue.array(message.content.map(\.jsonValue)) == (try JSONValue(encoding: message.content)))
        // And the stored form reads back as the same content
        let stored = JSONValue.array(message.content.map(\.jsonValue)).canonicalJSON
        #expect(try WireFormat.decoder.decode([Content].self, from: Data(stored.utf8)) == message.content)
        #expect(try message.jsonValue.decode(as: Message.self) == message)
    }
}
