import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import OspreyCore
import OspreyMemory

extension MemoryBench {
    /// Memory search as users reach it: a real `osprey gateway` process on a fresh home, the Cranfield abstracts
    /// stored through `POST /api/memory`, each query sent to `POST /api/memory/search`. The gateway embeds through
    /// `[memory] embedder = "openai"` against a loopback `/v1/embeddings` server in this process that answers with
    /// the reference vectors, so the figures are the in-process run's work plus the HTTP door, and the embedder's
    /// CPU is nobody's. Reports client-side latency, the gateway's CPU per query and nDCG@10 of the answers.
    func apiRun(
        collection: CranfieldCollection,
        table: [String: [Float]],
        grades: [[String: Int]]
    ) async throws {
        try await Self.withReferenceEmbeddings(table: table) { baseURL in
            let home = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
                "osprey-bench-memory-api-\(getpid())"
            )
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: home) }
            try """
            [[providers]]
            name = "reference"
            kind = "openai"
            base_url = "\(baseURL)"
            models = ["all-MiniLM-L6-v2"]

            [agents.default]
            model = "reference/all-MiniLM-L6-v2"
            tools = []

            [memory]
            embedder = "openai"
            provider = "reference"
            model = "all-MiniLM-L6-v2"
            dimensions = 384
            """.write(to: home.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
            let gateway = try GatewayBench.startGateway(home: home, port: apiPort)
            defer {
                gateway.terminate()
                gateway.waitUntilExit()
            }
            let api = try GatewayAPI(home: home, port: apiPort)
            var number: [String: String] = [:]
            for document in collection.documents {
                let stored = try await api.json(api.call(.POST, "/api/memory", ["content": .string(document.text)]))
                number[stored["id"]?.stringValue ?? ""] = document.number
            }
            while try await api.json(api.call(.GET, "/api/status"))["embedding_backlog"]?.intValue != 0 {
                try await Task.sleep(for: .milliseconds(50))
            }
            func search(_ query: String) async throws -> [String] {
                let answer = try await api.json(
                    api.call(.POST, "/api/memory/search", ["query": .string(query), "limit": 10])
                )
                return answer["results"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            }
            // A first pass embeds and caches every query's vector, as a repeated question would find it.
            for query in collection.queries { _ = try await search(query) }
            let pid = gateway.processIdentifier
            let clock = ContinuousClock()
            var times: [Double] = []
            var quality = 0.0
            let cpuBefore = GatewayBench.processCPUSeconds(pid: pid)
            for pass in 0..<3 {
                for (index, query) in collection.queries.enumerated() {
                    var ids: [String] = []
                    times.append((try await clock.measure { ids = try await search(query) }).seconds * 1000)
                    if pass == 0 { quality += Self.ndcg(ids.map { number[$0] ?? "" }, grades[index]) }
                }
            }
            let cpu = (GatewayBench.processCPUSeconds(pid: pid) - cpuBefore) * 1000 / Double(times.count)
            let latency = Self.percentiles(times)
            print(
                String(
                    format:
                        "  through the gateway's API (POST /api/memory/search, 1,400 memories, cached query vectors): p50 %.2f ms p95 %.2f ms, gateway CPU %.2f ms/query, nDCG@10 %.3f",
                    latency.p50,
                    latency.p95,
                    cpu,
                    quality / Double(collection.queries.count)
                )
            )
        }
    }

    /// Runs `body` with the base URL of an OpenAI-compatible `/v1/embeddings` server in this process that answers
    /// each input with its vector from `table` (a 404 for a text it does not hold).
    static func withReferenceEmbeddings(
        table: [String: [Float]],
        _ body: (String) async throws -> Void
    ) async throws {
        let router = Hummingbird.Router()
        router.post("/v1/embeddings") { request, _ -> Response in
            var request = request
            let json = try JSONValue.parse(try await request.collectBody(upTo: 16 << 20).readableBytesView)
            var data: [JSONValue] = []
            for (index, input) in (json["input"]?.arrayValue ?? []).enumerated() {
                guard let vector = input.stringValue.flatMap({ table[$0] }) else {
                    return Response(status: .notFound)
                }
                data.append(["index": .int(index), "embedding": .array(vector.map { .double(Double($0)) })])
            }
            let answer: JSONValue = ["data": .array(data), "model": "all-MiniLM-L6-v2"]
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: answer.canonicalJSON))
            )
        }
        try await AgentBench.serving(router, body)
    }
}
