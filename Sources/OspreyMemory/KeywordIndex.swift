import Foundation

/// Okapi BM25 over an in-memory inverted index: the memory bank's keyword ranking.
///
/// It ranks as the store's FTS5 table does (`bm25(memory_fts, 0, 2.0, 1.0, 1.0)`: the same `porter unicode61` terms,
/// title ×2, body and tags ×1, k1 = 1.2, b = 0.75, FTS5's IDF), but scores only the postings of the query's terms
/// into a flat array and keeps the best `limit` in a heap: FTS5 pays for a cursor per posting and sorts every match.
/// The store's table stays the durable index; this one is built from it when the bank opens and follows every
/// write. Removed documents leave their postings until a compaction, which runs once they outnumber the live ones.
struct KeywordIndex: Sendable {
    /// One document's text fields with their weights.
    struct Field {
        var text: String
        var weight: Float
    }

    /// A term's occurrence in a document, or a document's use of a term (weights summed over its fields).
    private struct Posting {
        var slot: Int32
        var frequency: Float
    }

    static let k1 = 1.2
    static let b = 0.75

    private var termIDs: [String: Int32] = [:]
    /// Per term: its text.
    private var termNames: [String] = []
    /// Per term: its postings, in slot order.
    private var postings: [[Posting]] = []
    /// Per term: how many live documents hold it.
    private var documentFrequency: [Int32] = []
    /// Per slot: the document's id, its length in terms, whether it is live, and the ids of its distinct terms
    /// (for the document frequencies a removal lowers, and the terms relevance feedback weighs).
    private var ids: [String] = []
    private var lengths: [Float] = []
    private var live: [Bool] = []
    private var terms: [[Int32]] = []
    private var slots: [String: Int32] = [:]
    private var totalLength: Double = 0

    /// The number of indexed documents.
    var count: Int { slots.count }

    /// A document's terms with their weighted frequencies, and its length in terms: the tokenizing and stemming,
    /// done before the index is touched (so a caller can do it outside the lock that guards the index).
    struct Document: Sendable {
        var frequencies: [String: Float] = [:]
        var length = 0
    }

    /// The terms of `fields`, each occurrence weighted by its field's weight.
    static func document(_ fields: [Field]) -> Document {
        var document = Document()
        for field in fields {
            PorterTokenizer.forEachTerm(in: field.text) { term in
                document.length += 1
                document.frequencies[term, default: 0] += field.weight
            }
        }
        return document
    }

    /// Indexes `fields` under `id`, replacing what was there.
    mutating func add(_ id: String, fields: [Field]) { add(id, document: Self.document(fields)) }

    /// Indexes `document` under `id`, replacing what was there.
    mutating func add(_ id: String, document: Document) {
        remove(id)
        var frequencies: [Int32: Float] = [:]
        for (term, frequency) in document.frequencies {
            let termID: Int32
            if let known = termIDs[term] {
                termID = known
            } else {
                termID = Int32(postings.count)
                termIDs[term] = termID
                termNames.append(term)
                postings.append([])
                documentFrequency.append(0)
            }
            frequencies[termID] = frequency
        }
        let length = document.length
        let slot = Int32(ids.count)
        let used = frequencies.sorted { $0.key < $1.key }.map { Posting(slot: $0.key, frequency: $0.value) }
        for use in used {
            postings[Int(use.slot)].append(Posting(slot: slot, frequency: use.frequency))
            documentFrequency[Int(use.slot)] += 1
        }
        ids.append(id)
        lengths.append(Float(length))
        live.append(true)
        terms.append(used.map(\.slot))
        slots[id] = slot
        totalLength += Double(length)
    }

    /// Removes document `id`, if indexed.
    mutating func remove(_ id: String) {
        guard let slot = slots.removeValue(forKey: id).map(Int.init) else { return }
        live[slot] = false
        totalLength -= Double(lengths[slot])
        for term in terms[slot] { documentFrequency[Int(term)] -= 1 }
        terms[slot] = []
        if ids.count - slots.count > max(1024, slots.count) { compact() }
    }

    /// The ids of the documents holding any of `words`' terms, best BM25 first (ties in indexing order), at most
    /// `limit`. A word given twice counts twice, as a phrase repeated in an FTS5 query does.
    func search(_ words: [String], limit: Int) -> [String] {
        search(weighted: query(words), limit: limit)
    }

    /// A query: its known terms in the order they come (sums in query order, as FTS5 adds its phrases), each with
    /// its weight (how many times it was given).
    typealias Query = [(termID: Int32, weight: Double)]

    /// The text of term `termID`.
    func termName(_ termID: Int32) -> String { termNames[Int(termID)] }

    /// The query of `words`' terms, repeats counted.
    func query(_ words: [String]) -> Query {
        var queryTerms: Query = []
        for word in words {
            PorterTokenizer.forEachTerm(in: word) { term in
                guard let termID = termIDs[term] else { return }
                if let known = queryTerms.firstIndex(where: { $0.termID == termID }) {
                    queryTerms[known].weight += 1
                } else {
                    queryTerms.append((termID, 1))
                }
            }
        }
        return queryTerms
    }

    /// Relevance feedback (RM3): `words`' query, given weight `originalWeight`, with the `expansion` terms most
    /// typical of the best `documents` documents it ranks added with the rest of the weight. A term's expansion weight
    /// is its share of each feedback document's length, weighted by how close that document's score is to the best
    /// one's (`e^(score - best)`); terms shorter than three letters and those in `excluded` (stemmed stop words) are
    /// left out; equal weights go by the terms' text. Both parts are normalized to sum to 1 first. Nil when the query
    /// matches nothing.
    func feedbackQuery(
        _ words: [String],
        documents: Int,
        expansion: Int,
        originalWeight: Double,
        excluded: Set<String>
    ) -> Query? {
        let original = query(words)
        let top = ranked(original, limit: documents)
        guard let best = top.first?.score else { return nil }
        var typical: [Int32: Double] = [:]
        for (slot, score) in top {
            let slot = Int(slot)
            let length = Double(max(lengths[slot], 1))
            let closeness = exp(score - best)
            for termID in terms[slot] {
                let name = termNames[Int(termID)]
                guard name.count >= 3, !excluded.contains(name), let frequency = frequency(of: termID, in: Int32(slot))
                else { continue }
                typical[termID, default: 0] += Double(frequency) / length * closeness
            }
        }
        // Ties by the terms' text: term ids follow hashing order, which changes from one process to the next.
        let chosen = typical.sorted {
            $0.value > $1.value || ($0.value == $1.value && termNames[Int($0.key)] < termNames[Int($1.key)])
        }
        .prefix(expansion)
        let originalTotal = original.reduce(0) { $0 + $1.weight }
        let expansionTotal = chosen.reduce(0) { $0 + $1.value }
        var weighted = original.map { ($0.termID, originalWeight * $0.weight / originalTotal) }
        for (termID, value) in chosen where expansionTotal > 0 {
            let share = (1 - originalWeight) * value / expansionTotal
            if let known = weighted.firstIndex(where: { $0.0 == termID }) {
                weighted[known].1 += share
            } else {
                weighted.append((termID, share))
            }
        }
        return weighted.map { (termID: $0.0, weight: $0.1) }
    }

    /// The weighted frequency of term `termID` in the document at `slot`, found by bisecting the term's postings
    /// (kept in slot order), so the index keeps no second copy of every document's frequencies.
    private func frequency(of termID: Int32, in slot: Int32) -> Float? {
        let list = postings[Int(termID)]
        var (low, high) = (0, list.count)
        while low < high {
            let middle = (low + high) / 2
            if list[middle].slot < slot { low = middle + 1 } else { high = middle }
        }
        return low < list.count && list[low].slot == slot ? list[low].frequency : nil
    }

    /// The ids of the documents holding any of `query`'s terms, best weighted BM25 first (ties in indexing order).
    func search(weighted query: Query, limit: Int) -> [String] {
        ranked(query, limit: limit).map { ids[Int($0.slot)] }
    }

    /// The best `limit` slots for `query` with their BM25 scores, best first (ties in indexing order).
    private func ranked(_ queryTerms: Query, limit: Int) -> [(slot: Int32, score: Double)] {
        guard limit > 0, !slots.isEmpty, !queryTerms.isEmpty else { return [] }
        let documents = Double(slots.count)
        let averageLength = totalLength / documents
        var scores = [Double](repeating: 0, count: ids.count)
        var touched: [Int32] = []
        for (termID, repeats) in queryTerms {
            let holders = Double(documentFrequency[Int(termID)])
            guard holders > 0 else { continue }
            var idf = log((documents - holders + 0.5) / (holders + 0.5))
            if idf <= 0 { idf = 1e-6 }
            let weight = idf * repeats * (Self.k1 + 1)
            let base = Self.k1 * (1 - Self.b)
            let perLength = Self.k1 * Self.b / averageLength
            for posting in postings[Int(termID)] {
                let slot = Int(posting.slot)
                guard live[slot] else { continue }
                let frequency = Double(posting.frequency)
                if scores[slot] == 0 { touched.append(posting.slot) }
                scores[slot] += weight * frequency / (frequency + base + perLength * Double(lengths[slot]))
            }
        }
        // The best `limit` by score, then by slot: a min-heap whose root is the worst kept.
        var heap: [(score: Double, slot: Int32)] = []
        heap.reserveCapacity(min(limit, touched.count))
        func worse(_ a: (score: Double, slot: Int32), _ b: (score: Double, slot: Int32)) -> Bool {
            a.score < b.score || (a.score == b.score && a.slot > b.slot)
        }
        for slot in touched {
            let candidate = (score: scores[Int(slot)], slot: slot)
            if heap.count < limit {
                heap.append(candidate)
                var child = heap.count - 1
                while child > 0, worse(heap[child], heap[(child - 1) / 2]) {
                    heap.swapAt(child, (child - 1) / 2)
                    child = (child - 1) / 2
                }
            } else if worse(heap[0], candidate) {
                heap[0] = candidate
                var parent = 0
                while true {
                    var worst = parent
                    for child in [2 * parent + 1, 2 * parent + 2]
                    where child < heap.count && worse(heap[child], heap[worst]) {
                        worst = child
                    }
                    guard worst != parent else { break }
                    heap.swapAt(parent, worst)
                    parent = worst
                }
            }
        }
        return heap.sorted { worse($1, $0) }.map { (slot: $0.slot, score: $0.score) }
    }

    /// Drops removed documents: every live one gets a new slot, in the old order, and each term's postings keep
    /// only the live ones, renumbered (still in slot order).
    private mutating func compact() {
        var renumbered = [Int32](repeating: -1, count: ids.count)
        var (newIDs, newLengths, newTerms): ([String], [Float], [[Int32]]) = ([], [], [])
        for slot in ids.indices where live[slot] {
            renumbered[slot] = Int32(newIDs.count)
            newIDs.append(ids[slot])
            newLengths.append(lengths[slot])
            newTerms.append(terms[slot])
        }
        for term in postings.indices {
            postings[term] = postings[term].compactMap { posting in
                let slot = renumbered[Int(posting.slot)]
                return slot < 0 ? nil : Posting(slot: slot, frequency: posting.frequency)
            }
        }
        ids = newIDs
        lengths = newLengths
        terms = newTerms
        live = Array(repeating: true, count: newIDs.count)
        slots = Dictionary(uniqueKeysWithValues: newIDs.enumerated().map { ($1, Int32($0)) })
    }
}

/// The keyword index from the moment a bank opens: building (searches go to the store's FTS5 table, which ranks
/// the same, and every write is recorded) until ``install(_:)`` replays the writes onto the built index.
struct KeywordIndexSlot: Sendable {
    private(set) var index: KeywordIndex?
    /// The writes made while the index was building: a document to index, or nil for a removal; nil once a build
    /// failed (FTS5 answers, and nothing is kept for a replay that will not come).
    private var changes: [(id: String, document: KeywordIndex.Document?)]? = []

    mutating func add(_ id: String, document: KeywordIndex.Document) {
        if index != nil { index!.add(id, document: document) } else { changes?.append((id, document)) }
    }

    mutating func remove(_ id: String) {
        if index != nil { index!.remove(id) } else { changes?.append((id, nil)) }
    }

    /// Gives the build up: searches stay on FTS5, and writes are no longer recorded.
    mutating func abandon() { changes = nil }

    /// Makes `built` (made from the store's rows) the index, with the writes made meanwhile replayed onto it.
    mutating func install(_ built: KeywordIndex) {
        guard let changes else { return }
        var built = built
        for change in changes {
            if let document = change.document {
                built.add(change.id, document: document)
            } else {
                built.remove(change.id)
            }
        }
        self.changes = []
        index = built
    }
}
