public import Foundation

/// The Cranfield documents and queries, as the reference embeddings in `minilm.npz` saw them.
public struct CranfieldCollection {
    /// Each document's number and the text that was embedded for it: its title and text, trimmed, joined by ". ".
    ///
    /// The join was found by comparison with the reference vectors: text alone gives cosines near 0.99, title
    /// + " " + text 0.999, and title + ". " + text reproduces them (1.000000); an empty document embeds ".".
    public var documents: [(number: String, text: String)]
    /// The query texts in file order (query *i* is qrel id *i*, as the data README says).
    public var queries: [String]

    /// Reads `cran.all.1400.xml` and `cran.qry.xml` from `directory`.
    public init(directory: URL) throws {
        let documentsXML = try String(
            contentsOf: directory.appendingPathComponent("cran.all.1400.xml"),
            encoding: .utf8
        )
        let queriesXML = try String(contentsOf: directory.appendingPathComponent("cran.qry.xml"), encoding: .utf8)
        documents = Self.elements("doc", in: documentsXML).map { document in
            let title = Self.elements("title", in: document).first ?? ""
            let text = Self.elements("text", in: document).first ?? ""
            return (Self.elements("docno", in: document).first ?? "", title + ". " + text)
        }
        queries = Self.elements("top", in: queriesXML).map { Self.elements("title", in: $0).first ?? "" }
    }

    /// The trimmed contents of every `<tag>…</tag>` in `xml`; the files use no attributes or entities.
    static func elements(_ tag: String, in xml: String) -> [String] {
        var results: [String] = []
        var rest = xml[...]
        while let open = rest.range(of: "<\(tag)>"), let close = rest[open.upperBound...].range(of: "</\(tag)>") {
            results.append(rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines))
            rest = rest[close.upperBound...]
        }
        return results
    }
}
