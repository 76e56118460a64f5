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

    @Test func theOutermostObjectOfAModelsAnswerIsFoundOrNil() {
        #expect(
            JSONValue.outermostObject(in: #"Sure: ```json {"pass": true, "e": {"x": 1}} ``` done"#) == [
                "pass": true, "e": ["x": 1],
            ]
        )
        // A last "}" before the first "{" is no object (it was a range from a later index to an earlier one).
        #expect(JSONValue.outermostObject(in: "} no object here {") == nil)
        #expect(JSONValue.outermostObject(in: "{not json}") == nil)
        #expect(JSONValue.outermostObject(in: "no braces") == nil)
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

struct EventHashBytesTests {
    static let events: [Event] = [
        Event(
            seq: 1,
            id: Event.ID("evt_1"),
            ts: "2026-12-04T04:00:00.000Z",
            type: Event.Kind(rawValue: "session.created"),
            actor: Principal(rawValue: "user:ana"),
            session: nil,
            task: nil,
            payload: [:],
            prevHash: Event.genesisHash,
            hash: ""
        ),
        Event(
            seq: 1_234_567,
            id: Event.ID("evt_\u{e9}\u{1F985}"),
            ts: "2026-12-04T04:00:00.000Z",
            type: Event.Kind(rawValue: "tool.call.completed"),
            actor: Principal(rawValue: "agent:\"quoted\"\\slash"),
            session: Session.ID("ses_1"),
            task: BackgroundTask.ID("tsk_2"),
            payload: [
                "output": "line one\nline\ttwo\r\u{01}\u{1F}end \"q\" \\", "n": 3, "ok": true, "none": .null,
                "nested": ["b": [1, 2.5, "x"], "a": ["\u{e9}": "é", "e": "z", "Z": "upper"]],
            ],
            prevHash: String(repeating: "a", count: 64),
            hash: ""
        ),
    ]

    @Test(arguments: events) func theDirectlyWrittenHashBytesAreTheCanonicalEnvelope(event: Event) {
        let canonical = event.hashedFields.canonicalBytes
        #expect(event.hashedBytes() == canonical)
        #expect(event.hashedBytes(payloadJSON: event.payload.canonicalBytes) == canonical)
        #expect(event.computedHash == Event.sha256Hex(canonical))
    }

    @Test func stringsAreEscapedAndKeysSortedAsPythonDoes() throws {
        // json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        let value: JSONValue = ["b": "a\"b\\c\nd\u{01}é", "a": 1, "é": 2, "Z": 3, "aa": 4]
        #expect(value.canonicalJSON == #"{"Z":3,"a":1,"aa":4,"b":"a\"b\\c\nd\u0001é","é":2}"#)
    }
}
