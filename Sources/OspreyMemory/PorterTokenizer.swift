import Foundation

/// Splits text into index terms the way SQLite FTS5's `porter unicode61` tokenizer does, so the in-memory keyword
/// index ranks what the `memory_fts` table would.
///
/// `unicode61`: a token is a run of letters, digits and private-use characters; it is case-folded and Latin
/// diacritics are removed. `porter`: tokens of 3 to 64 bytes are reduced by Martin Porter's 1980 algorithm with
/// FTS5's two departures (`bli` → `ble` and `logi` → `log` in step 2); other tokens pass through. ASCII text takes a
/// byte-level path with no allocation per token; other text goes through its Unicode scalars.
enum PorterTokenizer {
    /// Calls `body` with each term of `text`, in order, duplicates included.
    static func forEachTerm(in text: String, _ body: (String) -> Void) {
        var token: [UInt8] = []
        token.reserveCapacity(64)
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else { return forEachUnicodeTerm(in: text, body) }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                token.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                token.append(byte | 0x20)
            default:
                if !token.isEmpty { emit(&token, body) }
            }
        }
        if !token.isEmpty { emit(&token, body) }
    }

    /// The scalar path: token characters by Unicode category, folded, diacritics removed.
    private static func forEachUnicodeTerm(in text: String, _ body: (String) -> Void) {
        var scalars = String.UnicodeScalarView()
        func flush() {
            guard !scalars.isEmpty else { return }
            let folded = String(scalars).folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
            var token = Array(folded.utf8)
            scalars.removeAll(keepingCapacity: true)
            if !token.isEmpty { emit(&token, body) }
        }
        for scalar in text.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
                .decimalNumber, .letterNumber, .otherNumber, .privateUse:
                scalars.append(scalar)
            case .nonspacingMark, .spacingMark, .enclosingMark:
                // A diacritic belongs to the letter before it (and is folded away with it).
                if !scalars.isEmpty { scalars.append(scalar) }
            default:
                flush()
            }
        }
        flush()
    }

    /// Stems `token` in place, hands the term to `body` and empties `token`.
    private static func emit(_ token: inout [UInt8], _ body: (String) -> Void) {
        if (3...64).contains(token.count) { stem(&token) }
        body(String(decoding: token, as: UTF8.self))
        token.removeAll(keepingCapacity: true)
    }

    // MARK: The Porter stemmer

    /// Reduces a lower-case token of at least 3 bytes to its Porter stem.
    static func stem(_ word: inout [UInt8]) {
        step1a(&word)
        if step1b(&word) { step1bTidy(&word) }
        // Step 1c: y → i after a stem holding a vowel.
        if word.last == y, hasVowel(word, word.count - 1) { word[word.count - 1] = i }
        guard word.count >= 2 else { return }
        replaceSuffix(&word, step2, condition: { measure($0, $1) > 0 })
        guard word.count >= 2 else { return }
        replaceSuffix(&word, step3, condition: { measure($0, $1) > 0 })
        guard word.count >= 2 else { return }
        replaceSuffix(&word, step4) { word, stem in
            measure(word, stem) > 1
        }
        // Step 5a: a final e goes when m > 1, or m = 1 and the stem does not end consonant-vowel-consonant.
        if word.last == e {
            let stem = word.count - 1
            let m = measure(word, stem)
            if m > 1 || (m == 1 && !endsCVC(word, stem)) { word.removeLast() }
        }
        // Step 5b: a final double l goes when m > 1.
        if word.count > 1, word[word.count - 1] == l, word[word.count - 2] == l, measure(word, word.count - 1) > 1 {
            word.removeLast()
        }
    }

    private static let (e, i, l, s, y, z) = (
        UInt8(ascii: "e"), UInt8(ascii: "i"), UInt8(ascii: "l"), UInt8(ascii: "s"), UInt8(ascii: "y"), UInt8(ascii: "z")
    )
    private static let (eed, ed, ing, ion) = (Array("eed".utf8), Array("ed".utf8), Array("ing".utf8), Array("ion".utf8))
    private static let tidied = [Array("at".utf8), Array("bl".utf8), Array("iz".utf8)]

    /// Plurals: sses → ss, ies → i, ss stays, s goes.
    private static func step1a(_ word: inout [UInt8]) {
        let n = word.count
        guard word[n - 1] == s else { return }
        if word[n - 2] == e {
            if (n > 4 && word[n - 4] == s && word[n - 3] == s) || (n > 3 && word[n - 3] == i) {
                word.removeLast(2)
            } else {
                word.removeLast()
            }
        } else if word[n - 2] != s {
            word.removeLast()
        }
    }

    /// eed → ee when m > 0; ed and ing go after a stem holding a vowel. True when ed or ing went.
    private static func step1b(_ word: inout [UInt8]) -> Bool {
        // As in FTS5, each suffix must leave a stem of at least one letter.
        if word.count > 3, ends(word, eed) {
            if measure(word, word.count - 3) > 0 { word.removeLast() }
            return false
        }
        for suffix in [ed, ing] where ends(word, suffix) {
            let stem = word.count - suffix.count
            guard hasVowel(word, stem) else { return false }
            word.removeLast(suffix.count)
            return true
        }
        return false
    }

    /// After ed or ing went: at → ate, bl → ble, iz → ize; else a double consonant (not l, s, z) is halved, or an
    /// e is added to a short stem ending consonant-vowel-consonant.
    private static func step1bTidy(_ word: inout [UInt8]) {
        let n = word.count
        guard n >= 2 else { return }
        for suffix in tidied where n > 2 && ends(word, suffix) {
            word.append(e)
            return
        }
        let last = word[n - 1]
        if !isVowel(last, yIsVowel: false), last != l, last != s, last != z, last == word[n - 2] {
            word.removeLast()
        } else if measure(word, n) == 1, endsCVC(word, n) {
            word.append(e)
        }
    }

    /// A rule list: suffixes grouped by their next-to-last letter, as FTS5 switches on it; within a group the first
    /// suffix that ends the word is the only one tried.
    private typealias Rules = [[(suffix: [UInt8], replacement: [UInt8])]]

    private static func rules(_ pairs: [(String, String)]) -> Rules {
        var rules = Rules(repeating: [], count: 256)
        for (suffix, replacement) in pairs {
            let bytes = Array(suffix.utf8)
            rules[Int(bytes[bytes.count - 2])].append((bytes, Array(replacement.utf8)))
        }
        return rules
    }

    private static let step2 = rules([
        ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("logi", "log"),
        ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"),
        ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"),
        ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"),
    ])

    private static let step3 = rules([
        ("ical", "ic"), ("ness", ""), ("icate", "ic"), ("iciti", "ic"), ("ful", ""), ("ative", ""), ("alize", "al"),
    ])

    /// Step 4 drops these when m > 1 (ion only after s or t).
    private static let step4 = rules([
        ("al", ""), ("ance", ""), ("ence", ""), ("er", ""), ("ic", ""), ("able", ""), ("ible", ""), ("ant", ""),
        ("ement", ""), ("ment", ""), ("ent", ""), ("ion", ""), ("ou", ""), ("ism", ""), ("ate", ""), ("iti", ""),
        ("ous", ""), ("ive", ""), ("ize", ""),
    ])

    /// Replaces the first suffix of `word`'s group that ends it (leaving a non-empty stem), if `condition` holds.
    private static func replaceSuffix(
        _ word: inout [UInt8],
        _ rules: Rules,
        condition: ([UInt8], Int) -> Bool
    ) {
        for (suffix, replacement) in rules[Int(word[word.count - 2])]
        where word.count > suffix.count && ends(word, suffix) {
            let stem = word.count - suffix.count
            var holds = condition(word, stem)
            if suffix == ion {
                holds = holds && (word[stem - 1] == s || word[stem - 1] == UInt8(ascii: "t"))
            }
            if holds {
                word.removeLast(suffix.count)
                word.append(contentsOf: replacement)
            }
            return
        }
    }

    private static func ends(_ word: [UInt8], _ suffix: [UInt8]) -> Bool {
        guard word.count >= suffix.count else { return false }
        return word[(word.count - suffix.count)...].elementsEqual(suffix)
    }

    /// a, e, i, o, u; y too when it follows a consonant.
    private static func isVowel(_ byte: UInt8, yIsVowel: Bool) -> Bool {
        switch byte {
        case UInt8(ascii: "a"), e, i, UInt8(ascii: "o"), UInt8(ascii: "u"): true
        case y: yIsVowel
        default: false
        }
    }

    /// Porter's m: the number of vowel-consonant sequences in `word[..<stem]`.
    private static func measure(_ word: [UInt8], _ stem: Int) -> Int {
        var m = 0
        var previousConsonant = false
        var seenVowel = false
        for index in 0..<stem {
            let consonant = !isVowel(word[index], yIsVowel: previousConsonant)
            if consonant, seenVowel {
                m += 1
                seenVowel = false
            } else if !consonant {
                seenVowel = true
            }
            previousConsonant = consonant
        }
        return m
    }

    /// Whether `word[..<stem]` holds a vowel (y counts after the first letter).
    private static func hasVowel(_ word: [UInt8], _ stem: Int) -> Bool {
        (0..<stem).contains { isVowel(word[$0], yIsVowel: $0 > 0) }
    }

    /// Porter's *o: `word[..<stem]` ends consonant-vowel-consonant, the last not w, x or y.
    private static func endsCVC(_ word: [UInt8], _ stem: Int) -> Bool {
        guard stem >= 3 else { return false }
        let last = word[stem - 1]
        if last == UInt8(ascii: "w") || last == UInt8(ascii: "x") || last == y { return false }
        // Whether each of the last three letters is a consonant (a y's depends on the letter before it).
        var (third, second, first) = (false, false, false)
        for index in 0..<stem {
            (third, second) = (second, first)
            first = !isVowel(word[index], yIsVowel: first)
        }
        return third && !second && first
    }
}
