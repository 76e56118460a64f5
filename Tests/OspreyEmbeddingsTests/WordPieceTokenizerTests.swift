import Foundation
import OspreyEmbeddings
import OspreyMemory
import OspreyTesting
import Testing

struct WordPieceTokenizerTests {
    /// A toy vocabulary: enough to exercise longest-match, continuations and the special tokens.
    static let toyVocabulary: [String: Int] = [
        "[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "un": 4, "##aff": 5, "##able": 6, "##a": 7, "a": 8,
        "!": 9, "cafe": 10, "中": 11, "x": 12, "##x": 13,
    ]

    @Test(arguments: [
        ("unaffable", [2, 4, 5, 6, 3]),
        ("UnAffable!", [2, 4, 5, 6, 9, 3]),
        ("Café", [2, 10, 3]),
        ("café中a", [2, 10, 11, 8, 3]),
        ("unb", [2, 1, 3]),
        ("", [2, 3]),
        ("  \t\n ", [2, 3]),
    ])
    func toyVocabularyEncodesByGreedyLongestMatch(text: String, ids: [Int]) throws {
        let tokenizer = try WordPieceTokenizer(vocabulary: Self.toyVocabulary)
        #expect(tokenizer.encode(text) == ids)
    }

    @Test func wordsOverOneHundredCharactersBecomeUnknown() throws {
        let tokenizer = try WordPieceTokenizer(vocabulary: Self.toyVocabulary)
        #expect(
            tokenizer.encode(String(repeating: "x", count: 100)) == [2, 12] + Array(repeating: 13, count: 99) + [3]
        )
        #expect(tokenizer.encode(String(repeating: "x", count: 101)) == [2, 1, 3])
    }

    @Test func longTextIsTruncatedButKeepsTheSeparator() throws {
        let tokenizer = try WordPieceTokenizer(vocabulary: Self.toyVocabulary, maxLength: 6)
        #expect(tokenizer.encode("a a a a a a a a") == [2, 8, 8, 8, 8, 3])
        #expect(tokenizer.encode("a a") == [2, 8, 8, 3])
    }

    @Test(arguments: [
        ("Hello, World!", ["hello", ",", "world", "!"]),
        ("Ça   va?\u{0}\u{200B}", ["ca", "va", "?"]),
        ("naïve ÅNGSTRÖM", ["naive", "angstrom"]),
        ("中文x", ["中", "文", "x"]),
        ("e=mc^2 (approx.)", ["e", "=", "mc", "^", "2", "(", "approx", ".", ")"]),
        ("“quoted” — dash", ["“", "quoted", "”", "—", "dash"]),
        ("x\u{00A0}y\u{3000}z", ["x", "y", "z"]),
    ])
    func basicTokenizationNormalizesAndSplits(text: String, tokens: [String]) throws {
        let tokenizer = try WordPieceTokenizer(vocabulary: Self.toyVocabulary)
        #expect(tokenizer.basicTokens(text) == tokens)
    }

    @Test func aVocabularyWithoutSpecialTokensIsRejected() {
        #expect(throws: EmbeddingError.missingToken("[CLS]")) {
            try WordPieceTokenizer(vocabulary: ["[SEP]": 0, "[UNK]": 1])
        }
    }

    /// Expected ids from Hugging Face `tokenizers` 0.22 with all-MiniLM-L6-v2's `tokenizer.json`.
    @Test(
        .enabled(if: TestResources.modelDirectory != nil, TestResources.modelAbsent),
        arguments: [
            ("Hello, World!", [101, 7592, 1010, 2088, 999, 102]),
            ("Café naïve résumé", [101, 7668, 15743, 13746, 102]),
            ("boundary-layer-control effect", [101, 6192, 1011, 6741, 1011, 2491, 3466, 102]),
            ("中文字 test", [101, 1746, 1861, 100, 3231, 102]),
            (
                "destalling slipstream /destalling/",
                [101, 4078, 9080, 2989, 17433, 25379, 1013, 4078, 9080, 2989, 1013, 102]
            ),
            ("The quick brown fox's jump.", [101, 1996, 4248, 2829, 4419, 1005, 1055, 5376, 1012, 102]),
            ("tab\there\u{FFFD}ctrl\u{200B}zw", [101, 21628, 2182, 6593, 12190, 2480, 2860, 102]),
            ("unaffable", [101, 14477, 20961, 3468, 102]),
            ("Ωmega ÅNGSTRÖM", [101, 1179, 4168, 3654, 17076, 15687, 102]),
            ("$100 3.14 e=mc^2", [101, 1002, 2531, 1017, 1012, 2403, 1041, 1027, 11338, 1034, 1016, 102]),
            ("", [101, 102]),
            (String(repeating: "x", count: 101), [101, 100, 102]),
        ]
    )
    func miniLMVocabularyMatchesHuggingFace(text: String, ids: [Int]) throws {
        let directory = try #require(TestResources.modelDirectory)
        let tokenizer = try WordPieceTokenizer(directory: directory)
        #expect(tokenizer.encode(text) == ids)
    }

    @Test(.enabled(if: TestResources.modelDirectory != nil, TestResources.modelAbsent))
    func vocabTextAndTokenizerJSONAgree() throws {
        let directory = try #require(TestResources.modelDirectory)
        let fromText = try WordPieceTokenizer.vocabulary(contentsOf: directory.appendingPathComponent("vocab.txt"))
        let fromJSON = try WordPieceTokenizer.vocabulary(contentsOf: directory.appendingPathComponent("tokenizer.json"))
        #expect(fromText.count == 30522)
        #expect(fromText == fromJSON)
        #expect(fromText["##ling"] == 2989)
    }

    @Test(
        .enabled(if: TestResources.modelDirectory != nil, TestResources.modelAbsent),
        .enabled(if: TestResources.cranfieldPresent, "the Cranfield data (../shared/data/cranfield) is absent")
    )
    func aLongCranfieldDocumentIsCutTo256Tokens() throws {
        let directory = try #require(TestResources.modelDirectory)
        let tokenizer = try WordPieceTokenizer(directory: directory)
        let collection = try CranfieldCollection(directory: TestResources.cranfieldDirectory)
        let ids = tokenizer.encode(collection.documents[1].text)
        #expect(ids.count == 256)
        #expect(ids.first == 101)
        #expect(ids.last == 102)
    }
}
