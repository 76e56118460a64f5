import Foundation
import OspreyCore
import Testing

struct JSONValueTests {
    @Test func canonicalJSONMatchesPythonSortedCompactDumps() throws {
        // Expected text produced by Python: json.dumps(v, sort_keys=True, separators=(",",":"), ensure_ascii=False)
        let value = try JSONValue.parse(
            #"{"b":1,"a":[true,null,1.5,"x\ny\"z\u0001é😀\u2028/"],"c":{"z":1e20,"y":0.0001,"x":1e-05,"w":-0.0,"v":100.0,"u":1e16,"t":123456789012345.6,"é":1,"Z":2}}"#
        )
        let expected =
            "{\"a\":[true,null,1.5,\"x\\ny\\\"z\\u0001é😀\u{2028}/\"],\"b\":1,\"c\":{\"Z\":2,\"t\":123456789012345.6,\"u\":1e+16,\"v\":100.0,\"w\":-0.0,\"x\":1e-05,\"y\":0.0001,\"z\":1e+20,\"é\":1}}"
        #expect(value.canonicalJSON == expected)
    }

    @Test(arguments: [
        #"{"path":"a","path":"b"}"#,
        #"{"a":1}x"#,
        #"{"a":}"#,
        #"[1,2,]"#,
        #"{'a':1}"#,
        #""\ud800""#,
        #"01"#,
        #"1."#,
        "\"tab\there\"",
        "",
        "nul",
    ])
    func malformedOrAmbiguousJSONIsRejected(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func duplicateKeysNameTheKey() {
        do {
            _ = try JSONValue.parse(#"{"path":"a","path":"b"}"#)
            Issue.record("expected an error")
        } catch let error as JSONParseError {
            #expect(error.reason.contains("duplicate key 'path'"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func nestingBeyondTheLimitIsRefusedNotCrashed() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
    }

    @Test func integersStayIntegersAndRoundTrip() throws {
        let value = try JSONValue.parse(#"{"big":9007199254740993,"neg":-3,"f":2.5,"s":"\u00e9\ud83d\ude00"}"#)
        #expect(value["big"] == .int(9_007_199_254_740_993))
        #expect(value["neg"] == .int(-3))
        #expect(value["f"] == .double(2.5))
        #expect(value["s"] == .string("é😀"))
        #expect(try JSONValue.parse(value.canonicalJSON) == value)
    }

    @Test func codableRoundTripThroughFoundation() throws {
        let value: JSONValue = ["a": [1, 2.5, "x", nil, true], "b": ["c": "d"]]
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
    }
}

struct ContentCodingTests {
    @Test func contentIsStoredWithAnExplicitTypeTag() throws {
        let message = Message(
            role: .assistant,
            content: [
                .text("hi"), .toolCall(ToolCall(id: ToolCall.ID("c1"), name: "read_file", arguments: #"{"path":"a"}"#)),
                .toolResult(ToolResult(callID: ToolCall.ID("c1"), output: "x", isError: true)),
            ]
        )
        let json = try WireFormat.string(message)
        #expect(
            json
                == #"{"content":[{"text":"hi","type":"text"},{"arguments":"{\"path\":\"a\"}","id":"c1","name":"read_file","type":"tool_call"},{"call_id":"c1","is_error":true,"output":"x","type":"tool_result"}],"role":"assistant"}"#
        )
        #expect(try WireFormat.decoder.decode(Message.self, from: Data(json.utf8)) == message)
    }
}
