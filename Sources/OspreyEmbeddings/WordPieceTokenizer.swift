public import Foundation

/// BERT's uncased tokenizer: text cleanup, accent stripping and lowercasing, splitting on whitespace and
/// punctuation, then greedy longest-match WordPiece.
///
/// It reproduces the Hugging Face `BertNormalizer` + `BertPreTokenizer` + `WordPiece` pipeline of
/// all-MiniLM-L6-v2's `tokenizer.json`, with sentence-transformers' 256-token limit.
public struct WordPieceTokenizer: Sendable {
    /// Token text to id.
    public let vocabulary: [String: Int]
    /// The most ids ``encode(_:)`` returns, `[CLS]` and `[SEP]` included.
    public let maxLength: Int
    /// The id of `[CLS]`, which starts every encoding.
    public let classifierID: Int
    /// The id of `[SEP]`, which ends every encoding.
    public let separatorID: Int
    /// The id of `[UNK]`, which stands for a word WordPiece can't spell.
    public let unknownID: Int
    /// Words longer than this many Unicode scalars become `[UNK]` without a WordPiece search.
    public let maxCharactersPerWord = 100

    /// Creates a tokenizer from a token-to-id map, which must hold `[CLS]`, `[SEP]` and `[UNK]`.
    public init(vocabulary: [String: Int], maxLength: Int = 256) throws {
        guard let classifierID = vocabulary["[CLS]"] else { throw EmbeddingError.missingToken("[CLS]") }
        guard let separatorID = vocabulary["[SEP]"] else { throw EmbeddingError.missingToken("[SEP]") }
        guard let unknownID = vocabulary["[UNK]"] else { throw EmbeddingError.missingToken("[UNK]") }
        self.vocabulary = vocabulary
        self.maxLength = max(2, maxLength)
        self.classifierID = classifierID
        self.separatorID = separatorID
        self.unknownID = unknownID
    }

    /// Loads the vocabulary from `vocab.txt` in `directory`, or from `tokenizer.json` if there is no `vocab.txt`.
    public init(directory: URL, maxLength: Int = 256) throws {
        let text = directory.appendingPathComponent("vocab.txt")
        let json = directory.appendingPathComponent("tokenizer.json")
        let source = FileManager.default.fileExists(atPath: text.path) ? text : json
        try self.init(vocabulary: Self.vocabulary(contentsOf: source), maxLength: maxLength)
    }

    /// Reads a vocabulary: a `.json` file as a Hugging Face `tokenizer.json`, anything else as
    /// `vocab.txt` (one token a line, the line number is the id).
    public static func vocabulary(contentsOf url: URL) throws -> [String: Int] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw EmbeddingError.modelFile(path: url.path, reason: "\(error)")
        }
        if url.pathExtension == "json" {
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            guard let model = object?["model"] as? [String: Any], let vocabulary = model["vocab"] as? [String: Int]
            else { throw EmbeddingError.modelFile(path: url.path, reason: "no model.vocab object") }
            return vocabulary
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EmbeddingError.modelFile(path: url.path, reason: "not UTF-8")
        }
        var vocabulary: [String: Int] = [:]
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        for (id, line) in lines.enumerated() {
            let token = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            // The first occurrence wins, as in Hugging Face's loader, should a token repeat.
            if vocabulary[token] == nil { vocabulary[token] = id }
        }
        return vocabulary
    }

    /// The ids of `text`: `[CLS]`, its WordPiece ids cut to fit ``maxLength``, then `[SEP]`.
    public func encode(_ text: String) -> [Int] {
        let budget = maxLength - 2
        var ids = [classifierID]
        for word in basicTokens(text) {
            if ids.count > budget { break }
            appendWordPieces(of: word, to: &ids)
        }
        if ids.count > budget + 1 { ids.removeLast(ids.count - budget - 1) }
        ids.append(separatorID)
        return ids
    }

    /// The WordPiece tokens of `text`, without `[CLS]`, `[SEP]` or truncation; for inspection and tests.
    public func tokenize(_ text: String) -> [String] {
        var ids: [Int] = []
        for word in basicTokens(text) { appendWordPieces(of: word, to: &ids) }
        let names = Dictionary(vocabulary.map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return ids.map { names[$0] ?? "[UNK]" }
    }

    /// The words and punctuation marks of `text` after BERT's normalization.
    ///
    /// Normalization removes NUL, U+FFFD and control characters, turns whitespace into spaces, puts spaces
    /// around CJK ideographs, strips accents (canonical decomposition, then dropping nonspacing marks) and
    /// lowercases. Splitting breaks on whitespace and makes each punctuation character a token of its own.
    public func basicTokens(_ text: String) -> [String] {
        var words: [String] = []
        var word = String.UnicodeScalarView()
        func endWord() {
            if !word.isEmpty {
                words.append(String(word))
                word = String.UnicodeScalarView()
            }
        }
        for scalar in Self.normalized(text) {
            if scalar == " " {
                endWord()
            } else if Self.isPunctuation(scalar) {
                endWord()
                words.append(String(scalar))
            } else {
                word.append(scalar)
            }
        }
        endWord()
        return words
    }

    /// Appends the WordPiece ids of one basic token, or `[UNK]` if it is too long or can't be spelled.
    private func appendWordPieces(of word: String, to ids: inout [Int]) {
        let scalars = Array(word.unicodeScalars)
        guard scalars.count <= maxCharactersPerWord else {
            ids.append(unknownID)
            return
        }
        if let id = vocabulary[word] {
            ids.append(id)
            return
        }
        var pieces: [Int] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var match: Int?
            while start < end {
                var piece = start > 0 ? "##" : ""
                piece.unicodeScalars.append(contentsOf: scalars[start..<end])
                // Swift compares strings by canonical equivalence, the vocabulary by bytes; the two agree
                // because both the normalized words and the vocabulary are in decomposed form.
                if let id = vocabulary[piece] {
                    match = id
                    break
                }
                end -= 1
            }
            guard let match else {
                ids.append(unknownID)
                return
            }
            pieces.append(match)
            start = end
        }
        ids.append(contentsOf: pieces)
    }

    /// The scalars of `text` after cleanup, CJK spacing, accent stripping and lowercasing, in that order.
    static func normalized(_ text: String) -> [Unicode.Scalar] {
        var cleaned = String.UnicodeScalarView()
        var isASCII = true
        for scalar in text.unicodeScalars {
            if scalar.value == 0 || scalar.value == 0xFFFD || isControl(scalar) { continue }
            if isWhitespace(scalar) {
                cleaned.append(" ")
            } else if isChineseCharacter(scalar) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
                isASCII = false
            } else {
                cleaned.append(scalar)
                if !scalar.isASCII { isASCII = false }
            }
        }
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(cleaned.count)
        if isASCII {
            for scalar in cleaned {
                let value = scalar.value
                result.append((65...90).contains(value) ? Unicode.Scalar(UInt8(value + 32)) : scalar)
            }
            return result
        }
        for scalar in String(cleaned).decomposedStringWithCanonicalMapping.unicodeScalars
        where scalar.properties.generalCategory != .nonspacingMark {
            result.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
        }
        return result
    }

    /// Tab, newline and carriage return count as whitespace; other characters of category C* are dropped.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// Unicode's White_Space property, as Rust's `char::is_whitespace` and Hugging Face's normalizer use it.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII ? scalar == " " || (9...13).contains(scalar.value) : scalar.properties.isWhitespace
    }

    /// ASCII symbols (`$`, `^`, `+`, …) and every Unicode punctuation category.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value)
            || (123...126).contains(value)
        {
            return true
        }
        if scalar.isASCII { return false }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// The CJK Unified Ideographs blocks BERT tokenizes one character at a time.
    static func isChineseCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            true
        default:
            false
        }
    }
}
