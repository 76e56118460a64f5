import Testing

@testable import OspreyMemory

struct PorterTokenizerTests {
    static func terms(_ text: String) -> [String] {
        var terms: [String] = []
        PorterTokenizer.forEachTerm(in: text) { terms.append($0) }
        return terms
    }

    /// Martin Porter's examples and a few edge cases, each stem as SQLite's FTS5 `porter unicode61` tokenizer gave
    /// it (read from an `fts5vocab` table with Python's sqlite3, 3.40).
    @Test(arguments: [
        ("caresses", "caress"), ("ponies", "poni"), ("ties", "ti"), ("caress", "caress"), ("cats", "cat"),
        ("feed", "feed"), ("agreed", "agre"), ("plastered", "plaster"), ("bled", "bled"), ("motoring", "motor"),
        ("sing", "sing"), ("conflated", "conflat"), ("troubled", "troubl"), ("sized", "size"), ("hopping", "hop"),
        ("tanned", "tan"), ("falling", "fall"), ("hissing", "hiss"), ("fizzed", "fizz"), ("failing", "fail"),
        ("filing", "file"), ("happy", "happi"), ("sky", "sky"), ("relational", "relat"), ("conditional", "condit"),
        ("rational", "ration"), ("valenci", "valenc"), ("hesitanci", "hesit"), ("digitizer", "digit"),
        ("conformabli", "conform"), ("radicalli", "radic"), ("differentli", "differ"), ("vileli", "vile"),
        ("analogousli", "analog"), ("vietnamization", "vietnam"), ("predication", "predic"), ("operator", "oper"),
        ("feudalism", "feudal"), ("decisiveness", "decis"), ("hopefulness", "hope"), ("callousness", "callous"),
        ("formaliti", "formal"), ("sensitiviti", "sensit"), ("sensibiliti", "sensibl"), ("triplicate", "triplic"),
        ("formative", "form"), ("formalize", "formal"), ("electriciti", "electr"), ("electrical", "electr"),
        ("hopeful", "hope"), ("goodness", "good"), ("revival", "reviv"), ("allowance", "allow"),
        ("inference", "infer"), ("airliner", "airlin"), ("gyroscopic", "gyroscop"), ("adjustable", "adjust"),
        ("defensible", "defens"), ("irritant", "irrit"), ("replacement", "replac"), ("adjustment", "adjust"),
        ("dependent", "depend"), ("adoption", "adopt"), ("homologou", "homolog"), ("communism", "commun"),
        ("activate", "activ"), ("angulariti", "angular"), ("homologous", "homolog"), ("effective", "effect"),
        ("bowdlerize", "bowdler"), ("probate", "probat"), ("rate", "rate"), ("cease", "ceas"),
        ("controll", "control"), ("roll", "roll"), ("generalizations", "gener"), ("oscillators", "oscil"),
        ("aerodynamics", "aerodynam"), ("boundary", "boundari"), ("layers", "layer"), ("supersonic", "superson"),
        ("heated", "heat"), ("flows", "flow"), ("eed", "e"), ("ied", "i"), ("ate", "at"), ("at", "at"), ("yes", "ye"),
        ("syzygy", "syzygi"), ("archaeology", "archaeolog"), ("biology", "biologi"), ("by", "by"), ("sly", "sly"),
    ])
    func wordsStemAsFTS5StemsThem(word: String, stem: String) {
        #expect(Self.terms(word) == [stem])
    }

    @Test func textSplitsOnWhatIsNotALetterOrDigitAndFoldsCase() {
        #expect(Self.terms("x_y don't M2 H2O 3.5e-7") == ["x", "y", "don", "t", "m2", "h2o", "3", "5e", "7"])
        #expect(Self.terms("Boundary-Layer FLOWS,  heated!") == ["boundari", "layer", "flow", "heat"])
        #expect(Self.terms("") == [])
        #expect(Self.terms(" -- ") == [])
    }

    @Test func latinDiacriticsAreRemovedBeforeStemming() {
        #expect(Self.terms("Über Café naïve ÉCOLE") == ["uber", "cafe", "naiv", "ecol"])
    }
}
