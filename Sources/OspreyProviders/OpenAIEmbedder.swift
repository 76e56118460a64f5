public import OspreyCore

/// Any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, llama.cpp's server, Ollama, vLLM) as an ``Embedder``.
public struct OpenAIEmbedder: Embedder {
    public let name: String
    public let baseURL: String
    let apiKey: String?
    let modelName: String
    public let dimensions: Int
    let transport: HTTPTransport

    public var model: String { "\(name)/\(modelName)" }

    public init(
        name: String,
        baseURL: String,
        apiKey: String?,
        model: String,
        dimensions: Int,
        transport: HTTPTransport = .shared
    ) {
        self.name = name
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.modelName = model
        self.dimensions = dimensions
        self.transport = transport
    }

    /// One request for all `texts`; the vectors come back in input order (by `index`), L2-normalized.
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        var headers: [(String, String)] = []
        if let apiKey { headers.append(("Authorization", "Bearer \(apiKey)")) }
        let answer = try await transport.postJSON(
            provider: name,
            url: baseURL + "/embeddings",
            headers: headers,
            body: ["model": .string(modelName), "input": .array(texts.map(JSONValue.string))]
        )
        guard let items = answer["data"]?.arrayValue, items.count == texts.count else {
            throw ProviderError.invalidResponse(provider: name, message: "expected \(texts.count) embeddings in data")
        }
        var vectors = [[Float]](repeating: [], count: texts.count)
        for (position, item) in items.enumerated() {
            let index = item["index"]?.intValue ?? position
            guard vectors.indices.contains(index), let values = item["embedding"]?.arrayValue,
                values.count == dimensions
            else {
                throw ProviderError.invalidResponse(
                    provider: name,
                    message: "embedding \(position) is not \(dimensions) numbers with a valid index"
                )
            }
            let vector = values.map { Float($0.doubleValue ?? 0) }
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            vectors[index] = norm > 0 ? vector.map { $0 / norm } : vector
        }
        return vectors
    }
}
