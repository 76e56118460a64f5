import Foundation
import OspreyCore
import OspreyMemory
import OspreyTesting
import Testing

struct MemoryRecordTests {
    static let sample =
        try! MemoryRecord(  // A literal fixture that satisfies every limit.
            id: "mem_3f9a0c21b7d4e865",
            type: .preference,
            tags: ["editor", "swift"],
            source: .user,
            provenance: "session 42",
            trust: .trusted,
            importance: 0.75,
            created: date("2026-05-01T09:30:00Z"),
            lastUsed: date("2026-05-03T18:05:12.250Z"),
            title: "Prefers tabs",
            body: "The user indents with tabs.\n"
        )

    @Test func canonicalMarkdownIsPinned() {
        #expect(
            Self.sample.markdown() == """
                ---
                id: mem_3f9a0c21b7d4e865
                type: preference
                title: Prefers tabs
                tags: [editor, swift]
                source: user
                provenance: session 42
                trust: trusted
                importance: 0.75
                created: 2026-05-01T09:30:00Z
                last_used: 2026-05-03T18:05:12.250Z
                ---

                The user indents with tabs.

                """
        )
    }

    @Test(arguments: [
        ("title", "Re: \"quoted\" and \\ backslash: yes"),
        ("title", "two\nlines\r\nand a\ttab"),
        ("title", "  padded  "),
        ("title", ""),
        ("title", "\"starts with a quote"),
        ("title", "[looks like a list]"),
        ("title", "bell \u{7} and separator \u{2028}"),
        ("tag", "a, b"),
        ("tag", "[x]"),
        ("tag", "say \"hi\""),
        ("tag", "new\nline"),
        ("tag", "ünïcödé 🦅"),
        ("provenance", "https://example.com/a?b=c#d: fetched"),
    ])
    func trickyStringsRoundTrip(field: String, text: String) throws {
        var record = Self.sample
        switch field {
        case "title": record.title = text
        case "tag": record.tags = ["plain", text, "last"]
        default: record.provenance = text
        }
        #expect(try MemoryRecord(markdown: record.markdown()) == record)
    }

    @Test(arguments: [
        "---\n",
        "body\n---\nmore\n---\n",
        "# Heading\n\n---\n\nA rule above, and a fake front matter below:\n---\nid: x\n---\n",
        "\nstarts with a blank line",
        "no trailing newline",
        "\r\nwindows\r\n",
    ])
    func bodiesRoundTripExactly(body: String) throws {
        var record = Self.sample
        record.body = body
        let parsed = try MemoryRecord(markdown: record.markdown())
        #expect(parsed == record)
        #expect(parsed.body == body)
    }

    @Test func optionalFieldsRoundTripWhenAbsent() throws {
        let record = try MemoryRecord(
            id: "mem_0000000000000001",
            type: .fact,
            source: .tool,
            trust: .untrusted,
            importance: 1e-5,
            created: date("2026-01-01T00:00:00Z"),
            body: "x"
        )
        #expect(!record.markdown().contains("title:"))
        #expect(!record.markdown().contains("last_used:"))
        #expect(try MemoryRecord(markdown: record.markdown()) == record)
    }

    @Test func handWrittenFilesParseWithDefaults() throws {
        let text = "---\r\nid: mem_1\r\n\r\ntype: lesson\r\ncreated: 2026-05-01T09:30:00.123456Z\r\n---\r\n\r\nBody\r\n"
        let record = try MemoryRecord(markdown: text)
        #expect(record.type == .lesson)
        #expect(record.tags == [])
        #expect(record.source == .agent)
        #expect(record.trust == .untrusted)
        #expect(record.importance == 0.5)
        #expect(record.title == nil)
        #expect(record.body == "Body\r\n")
        #expect(record.created == date("2026-05-01T09:30:00.123Z"))
    }

    @Test func quotedAndBareListItemsMix() throws {
        let text =
            "---\nid: a\ntype: fact\ntags: [ one ,\"two, three\",  four five ]\ncreated: 2026-05-01T09:30:00Z\n---\nb"
        #expect(try MemoryRecord(markdown: text).tags == ["one", "two, three", "four five"])
    }

    @Test(arguments: [
        (
            "id: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\nimportance: 2",
            "line 5: importance must be a number in 0...1"
        ),
        (
            "id: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\nimportance: nan",
            "line 5: importance must be a number in 0...1"
        ),
        (
            "id: a\ntype: note\ncreated: 2026-05-01T09:30:00Z",
            "line 3: type must be one of fact, preference, procedure, episode, lesson"
        ),
        (
            "id: a\ntype: fact\ncreated: 2026-02-30T09:30:00Z",
            "line 4: created must be an RFC 3339 date in UTC, such as 2026-05-01T09:30:00Z"
        ),
        (
            "id: a\ntype: fact\ncreated: 2026-05-01T09:30:00+01:00",
            "line 4: created must be an RFC 3339 date in UTC, such as 2026-05-01T09:30:00Z"
        ),
        (
            "id: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\ncolour: red",
            "line 5: unknown key 'colour'; known keys are id, type, title, tags, source, provenance, trust, importance, created, last_used"
        ),
        ("id: a\nid: b\ntype: fact\ncreated: 2026-05-01T09:30:00Z", "line 3: 'id' is given twice"),
        ("id: a\ntype: fact", "the front matter lacks the required key 'created'"),
        ("type: fact\ncreated: 2026-05-01T09:30:00Z", "the front matter lacks the required key 'id'"),
        ("id: a\njust text\ntype: fact", "line 3: expected 'key: value', found 'just text'"),
        (
            "id: ../etc\ntype: fact\ncreated: 2026-05-01T09:30:00Z",
            "line 2: id must be 1...64 ASCII letters, digits, '_' or '-'"
        ),
        (
            "id: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\ntitle: \"open",
            "line 5: title has an unterminated quoted string"
        ),
        (
            "id: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\ntitle: \"a\" b",
            "line 5: title has text after the closing quote"
        ),
        (
            "id: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\ntitle: \"\\q\"",
            "line 5: title has an unknown escape '\\q'; use \\\", \\\\, \\n, \\r, \\t or \\u{…}"
        ),
        ("id: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\ntags: a, b", "line 5: tags must be a list such as [a, b]"),
        ("id: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\ntags: [a, ]", "line 5: tags has an empty list item"),
        (
            "id: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\ntags: [a, b",
            "line 5: tags has an unterminated list; close it with ']'"
        ),
        (
            "id: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\ntags: [a] b",
            "line 5: tags has text after the closing ']'"
        ),
        (
            "id: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\ntitle:",
            "line 5: title has no value; write \"\" for an empty string"
        ),
    ])
    func invalidFrontMatterNamesTheLineAndTheProblem(frontMatter: String, message: String) {
        let text = "---\n\(frontMatter)\n---\n\nbody"
        #expect {
            try MemoryRecord(markdown: text)
        } throws: { error in
            (error as? MemoryRecordError)?.description == message
        }
    }

    @Test(arguments: [
        ("no front matter", MemoryRecordError.missingFrontMatter),
        ("---\nid: a\n", .unterminatedFrontMatter),
        ("---\nid: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\n---\n", .invalidBody(byteCount: 0)),
        ("---\nid: a\ntype: fact\ncreated: 2026-05-01T09:30:00Z\n---\n\n", .invalidBody(byteCount: 0)),
    ])
    func structuralProblemsAreErrors(text: String, expected: MemoryRecordError) {
        #expect(throws: expected) { try MemoryRecord(markdown: text) }
    }

    @Test func limitsAreEnforcedInCodeAndInFiles() throws {
        var record = Self.sample
        record.body = String(repeating: "é", count: 32_768)  // exactly 64 KiB of UTF-8
        #expect(try MemoryRecord(markdown: record.markdown()) == record)
        record.body += "x"
        #expect(throws: MemoryRecordError.invalidBody(byteCount: 65_537)) { try record.validate() }
        #expect(throws: MemoryRecordError.invalidBody(byteCount: 65_537)) {
            try MemoryRecord(markdown: record.markdown())
        }

        record = Self.sample
        record.tags = (0..<33).map { "t\($0)" }
        #expect(
            throws: MemoryRecordError.invalidValue(
                line: nil,
                key: "tags",
                reason: "must hold at most 32 tags, found 33"
            )
        ) {
            try record.validate()
        }
        #expect(
            throws: MemoryRecordError.invalidValue(line: 5, key: "tags", reason: "must hold at most 32 tags, found 33")
        ) {
            try MemoryRecord(markdown: record.markdown())
        }
        record.tags = [String(repeating: "a", count: 65)]
        #expect(throws: MemoryRecordError.self) { try record.validate() }
        record.tags = [String(repeating: "a", count: 64)]
        try record.validate()
        record.tags = [""]
        #expect(throws: MemoryRecordError.self) { try record.validate() }
    }

    @Test func datesKeepMillisecondsAndRoundTrip() throws {
        var record = Self.sample
        record.created = Date(timeIntervalSince1970: 1_777_000_000.123_456_7)
        #expect(record.created == Date(timeIntervalSince1970: 1_777_000_000.123))
        record.lastUsed = Date(timeIntervalSince1970: -1.000_6)  // before 1970: floor division matters
        #expect(record.markdown().contains("last_used: 1969-12-31T23:59:58.999Z"))
        #expect(try MemoryRecord(markdown: record.markdown()) == record)
    }

    @Test(arguments: [
        ("2024-02-29T23:59:59Z", true),
        ("2100-02-29T00:00:00Z", false),
        ("2000-02-29T00:00:00.5Z", true),
        ("2026-05-01T24:00:00Z", false),
        ("2026-05-01T09:30:60Z", false),
        ("2026-05-01 09:30:00Z", false),
        ("2026-05-01T09:30:00.Z", false),
        ("2026-05-01T09:30:00z", false),
    ])
    func createdDatesAreStrictRFC3339InUTC(text: String, valid: Bool) {
        let markdown = "---\nid: a\ntype: fact\ncreated: \(text)\n---\n\nbody"
        #expect(((try? MemoryRecord(markdown: markdown)) != nil) == valid)
    }

    @Test func randomIDsAreMemPrefixedHex() {
        var generator = SeededGenerator(seed: 7)
        let id = MemoryRecord.randomID(using: &generator)
        #expect(id.hasPrefix("mem_"))
        #expect(id.count == 20)
        #expect(id.dropFirst(4).allSatisfy { $0.isHexDigit })
        #expect(MemoryRecord.randomID() != MemoryRecord.randomID())
    }

    @Test func enumSpellingsOnDiskArePinned() {
        #expect(MemoryType.allCases.map(\.rawValue) == ["fact", "preference", "procedure", "episode", "lesson"])
        #expect(MemorySource.allCases.map(\.rawValue) == ["user", "agent", "tool", "url"])
        #expect(MemoryTrust.allCases.map(\.rawValue) == ["trusted", "untrusted"])
    }
}
