import COspreyKernels
public import Foundation
public import OspreyCore

/// Sentence embeddings from all-MiniLM-L6-v2 (or another BERT encoder in the same layout), in pure Swift.
///
/// The model is sentence-transformers' pipeline: WordPiece tokens (at most 256), a BERT encoder, the mean of
/// the final hidden states, and L2 normalization, so the dot product of two embeddings is their cosine.
/// Loading reads `model.safetensors`, `config.json`, `vocab.txt` (or `tokenizer.json`) and, if present,
/// `sentence_bert_config.json` from one directory. Embedding is synchronous CPU work that uses every core.
public struct MiniLMEmbedder: Sendable {
    /// One encoder block: self-attention and a feed-forward network, each followed by residual + LayerNorm.
    struct Layer: Sendable {
        /// Query, key and value projections fused into one layer of `3 × hidden` outputs.
        let queryKeyValue: DenseLayer
        let attentionOutput: DenseLayer
        let attentionNorm: LayerNorm
        let intermediate: DenseLayer
        let output: DenseLayer
        let outputNorm: LayerNorm
    }

    /// The hyperparameters of `config.json` the encoder uses, with all-MiniLM-L6-v2's values as defaults.
    struct Configuration: Decodable, Sendable {
        var hiddenSize = 384
        var attentionHeads = 12
        var hiddenLayers = 6
        var intermediateSize = 1536
        var layerNormEpsilon: Float = 1e-12
        var maxPositions = 512

        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size"
            case attentionHeads = "num_attention_heads"
            case hiddenLayers = "num_hidden_layers"
            case intermediateSize = "intermediate_size"
            case layerNormEpsilon = "layer_norm_eps"
            case maxPositions = "max_position_embeddings"
        }

        init() {}

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let defaults = Configuration()
            hiddenSize = try container.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? defaults.hiddenSize
            attentionHeads =
                try container.decodeIfPresent(Int.self, forKey: .attentionHeads) ?? defaults.attentionHeads
            hiddenLayers = try container.decodeIfPresent(Int.self, forKey: .hiddenLayers) ?? defaults.hiddenLayers
            intermediateSize =
                try container.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? defaults.intermediateSize
            layerNormEpsilon =
                try container.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? defaults.layerNormEpsilon
            maxPositions = try container.decodeIfPresent(Int.self, forKey: .maxPositions) ?? defaults.maxPositions
        }
    }

    /// The tokenizer that turns text into the ids the encoder reads.
    public let tokenizer: WordPieceTokenizer
    let configuration: Configuration
    let wordEmbeddings: [Float]
    let positionEmbeddings: [Float]
    /// The token type 0 embedding: every token of a single sentence has type 0.
    let tokenTypeEmbedding: [Float]
    let embeddingNorm: LayerNorm
    let layers: [Layer]
    /// The matrix and attention kernels, chosen when the model loads (tests also run the slower ones).
    let kernel: DenseLayer.Kernel

    /// Which kernels run the encoder, for reports.
    public var kernelDescription: String {
        switch kernel {
        case .avx512BF16: "AVX-512 BF16 products, AVX2/FMA attention"
        case .avx2: "AVX2/FMA"
        case .portable: "portable SIMD"
        }
    }

    /// The length of an embedding: 384 for all-MiniLM-L6-v2.
    public var dimensions: Int { configuration.hiddenSize }

    /// The floating-point operations (a multiply-add counts two) the encoder's products make for one sequence of
    /// `tokens` tokens: per layer the query/key/value, attention output and two feed-forward products, and
    /// attention's scores and weighted sum. The element-wise work (norms, GELU, softmax) is left out.
    public func floatingPointOperations(tokens: Int) -> Double {
        let (n, hidden, inner) = (
            Double(tokens), Double(configuration.hiddenSize), Double(configuration.intermediateSize)
        )
        let products = 2 * n * hidden * (3 * hidden + hidden + 2 * inner)
        let attention = 2 * 2 * n * n * hidden
        return Double(layers.count) * (products + attention)
    }

    /// This core's measured peak, in floating-point operations per CPU second, of the instruction the encoder's
    /// products run on (twelve independent chains of eight-lane FMAs with AVX2, of sixteen-lane BF16 dot products with
    /// AVX-512 BF16; nil for the portable kernels). The anchor beside which benchmarks report the encoder's own rate.
    public func peakFloatingPointOperationsPerSecond() -> Double? {
        let (operationsPerStep, loop): (Double, (Int) -> Float)
        switch kernel {
        case .avx512BF16: (operationsPerStep, loop) = (12 * 64, osprey_bf16_peak)
        case .avx2: (operationsPerStep, loop) = (12 * 16, osprey_fma_peak)
        case .portable: return nil
        }
        let iterations = 50_000_000
        // This thread's CPU time: the loop runs on it alone.
        func cpu() -> Double {
            var time = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
            return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        }
        var best = 0.0
        for _ in 0..<3 {
            let start = cpu()
            let checksum = loop(iterations)
            let seconds = cpu() - start
            // The checksum is used so the loop cannot be dropped; it is finite for these inputs.
            if seconds > 0, checksum.isFinite { best = max(best, Double(iterations) * operationsPerStep / seconds) }
        }
        return best
    }

    /// Loads the model files in `directory`, for the fastest kernels this CPU runs; `bfloat16` false keeps the
    /// products in FP32 where the CPU also has BF16 dot products (which round the weights and a product's inputs to
    /// bfloat16: the embeddings then differ from FP32's by a cosine of about 10⁻⁴).
    public init(directory: URL, bfloat16: Bool = true) throws {
        let best = DenseLayer.Kernel.best
        try self.init(directory: directory, kernel: !bfloat16 && best == .avx512BF16 ? .avx2 : best)
    }

    /// Loads the model files in `directory`, for `kernel`.
    init(directory: URL, kernel: DenseLayer.Kernel) throws {
        self.kernel = kernel
        let configuration = try Self.configuration(in: directory)
        let hidden = configuration.hiddenSize
        let heads = configuration.attentionHeads
        guard heads > 0, hidden % heads == 0, (hidden / heads) % DenseLayer.panelWidth == 0 else {
            throw EmbeddingError.modelFile(
                path: directory.appendingPathComponent("config.json").path,
                reason: "hidden size \(hidden) over \(heads) heads is not a multiple of \(DenseLayer.panelWidth)"
            )
        }
        let maxLength = min(Self.maxSequenceLength(in: directory), configuration.maxPositions)
        tokenizer = try WordPieceTokenizer(directory: directory, maxLength: maxLength)
        let weights = try SafeTensors(contentsOf: directory.appendingPathComponent("model.safetensors"))
        // Checkpoints saved from BertModel name tensors `embeddings.…`; from a task model, `bert.embeddings.…`.
        let prefix = weights.tensors["embeddings.word_embeddings.weight"] == nil ? "bert." : ""
        func tensor(_ name: String, _ shape: Int...) throws -> [Float] {
            try weights.floats(prefix + name, shape: shape)
        }
        func norm(_ name: String) throws -> LayerNorm {
            LayerNorm(
                gamma: try tensor(name + ".weight", hidden),
                beta: try tensor(name + ".bias", hidden),
                epsilon: configuration.layerNormEpsilon
            )
        }
        func dense(_ name: String, inputs: Int, outputs: Int) throws -> DenseLayer {
            DenseLayer(
                weight: try tensor(name + ".weight", outputs, inputs),
                bias: try tensor(name + ".bias", outputs),
                inputs: inputs,
                outputs: outputs,
                kernel: kernel
            )
        }
        guard let vocabularySize = weights.tensors[prefix + "embeddings.word_embeddings.weight"]?.shape.first else {
            throw EmbeddingError.missingTensor(name: prefix + "embeddings.word_embeddings.weight")
        }
        guard tokenizer.vocabulary.values.allSatisfy({ $0 >= 0 && $0 < vocabularySize }) else {
            throw EmbeddingError.modelFile(path: directory.path, reason: "vocabulary ids exceed \(vocabularySize) rows")
        }
        wordEmbeddings = try tensor("embeddings.word_embeddings.weight", vocabularySize, hidden)
        positionEmbeddings = try tensor("embeddings.position_embeddings.weight", configuration.maxPositions, hidden)
        let tokenTypes = weights.tensors[prefix + "embeddings.token_type_embeddings.weight"]?.shape.first ?? 0
        tokenTypeEmbedding = Array(
            try tensor("embeddings.token_type_embeddings.weight", tokenTypes, hidden)[0..<hidden]
        )
        embeddingNorm = try norm("embeddings.LayerNorm")
        let intermediateSize = configuration.intermediateSize
        layers = try (0..<configuration.hiddenLayers).map { index in
            let layer = "encoder.layer.\(index)."
            let attention = layer + "attention.self."
            var fusedWeight: [Float] = []
            var fusedBias: [Float] = []
            for part in ["query", "key", "value"] {
                fusedWeight += try tensor(attention + part + ".weight", hidden, hidden)
                fusedBias += try tensor(attention + part + ".bias", hidden)
            }
            return Layer(
                queryKeyValue: DenseLayer(
                    weight: fusedWeight,
                    bias: fusedBias,
                    inputs: hidden,
                    outputs: 3 * hidden,
                    kernel: kernel
                ),
                attentionOutput: try dense(layer + "attention.output.dense", inputs: hidden, outputs: hidden),
                attentionNorm: try norm(layer + "attention.output.LayerNorm"),
                intermediate: try dense(layer + "intermediate.dense", inputs: hidden, outputs: intermediateSize),
                output: try dense(layer + "output.dense", inputs: intermediateSize, outputs: hidden),
                outputNorm: try norm(layer + "output.LayerNorm")
            )
        }
        self.configuration = configuration
    }

    /// The unit-length embedding of `text`.
    public func embed(_ text: String) -> [Float] {
        encode([tokenizer.encode(text)])[0]
    }

    /// The unit-length embeddings of `texts`, in order.
    ///
    /// Texts go through the encoder in groups, which share each weight matrix while it is in cache.
    public func embed(batch texts: [String]) -> [[Float]] {
        var embeddings: [[Float]] = []
        embeddings.reserveCapacity(texts.count)
        var group: [[Int]] = []
        var groupTokens = 0
        for text in texts {
            let ids = tokenizer.encode(text)
            if !group.isEmpty && groupTokens + ids.count > Self.tokensPerGroup {
                embeddings += encode(group)
                group = []
                groupTokens = 0
            }
            group.append(ids)
            groupTokens += ids.count
        }
        if !group.isEmpty { embeddings += encode(group) }
        return embeddings
    }

    /// The most tokens one encoder pass of ``embed(batch:)`` holds: enough to amortize the weights, few
    /// enough that the activations (about 12 KB a token) stay small.
    static let tokensPerGroup = 2048

    private static func configuration(in directory: URL) throws -> Configuration {
        let url = directory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return Configuration() }
        do {
            return try JSONDecoder().decode(Configuration.self, from: Data(contentsOf: url))
        } catch {
            throw EmbeddingError.modelFile(path: url.path, reason: "\(error)")
        }
    }

    /// sentence-transformers' `max_seq_length`, 256 for all-MiniLM-L6-v2 though BERT itself allows 512.
    private static func maxSequenceLength(in directory: URL) -> Int {
        let url = directory.appendingPathComponent("sentence_bert_config.json")
        guard let data = try? Data(contentsOf: url) else { return 256 }
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        return object?["max_seq_length"] as? Int ?? 256
    }
}

extension MiniLMEmbedder: Embedder {
    public var model: String { "all-MiniLM-L6-v2" }

    /// Embeds on the calling task: CPU-bound work, a few hundred milliseconds for a long text.
    /// Embeds on ``workQueue``, off Swift's cooperative pool: a batch is seconds of CPU, which on a two-thread pool
    /// would starve every other task (graceful shutdown included).
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        try Task.checkCancellation()
        return await Self.offPool { embed(batch: texts) }
    }

    /// Where embedding and weight loading run: one serial queue, so one core is left to the gateway.
    static let workQueue = DispatchQueue(label: "osprey.memory.embedding", qos: .utility)

    /// Runs blocking `work` on ``workQueue`` and waits for it without holding a cooperative thread.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            workQueue.async { continuation.resume(returning: work()) }
        }
    }
}
