import COspreyKernels
import Dispatch
import Foundation

extension MiniLMEmbedder {
    /// Runs the encoder over token sequences and returns their mean-pooled, L2-normalized embeddings.
    ///
    /// The sequences are stacked into one matrix of rows (tokens) for the dense layers; attention looks only
    /// within a sequence, so no padding or attention mask is needed: every row is a real token, and mean pooling
    /// over the mask is the mean over the sequence's rows.
    func encode(_ sequences: [[Int]]) -> [[Float]] {
        let hidden = configuration.hiddenSize
        let intermediateSize = configuration.intermediateSize
        var offsets = [0]
        for sequence in sequences { offsets.append(offsets[offsets.count - 1] + sequence.count) }
        let rows = offsets[offsets.count - 1]
        guard rows > 0 else { return sequences.map { _ in [Float](repeating: 0, count: hidden) } }

        let buffers = (
            state: SharedFloats(count: rows * hidden),
            queryKeyValue: SharedFloats(count: rows * 3 * hidden),
            context: SharedFloats(count: rows * hidden),
            scratch: SharedFloats(count: rows * max(hidden, intermediateSize))
        )
        defer {
            buffers.state.deallocate()
            buffers.queryKeyValue.deallocate()
            buffers.context.deallocate()
            buffers.scratch.deallocate()
        }

        embedTokens(sequences, offsets: offsets, into: buffers.state.base)
        let kernel = kernel
        for layer in layers {
            Self.forEachChunk(of: rows) { chunk in
                let (state, queryKeyValue) = (buffers.state.base, buffers.queryKeyValue.base)
                layer.queryKeyValue.apply(state, rows: chunk, into: queryKeyValue)
            }
            attend(buffers.queryKeyValue, offsets: offsets, into: buffers.context)
            Self.forEachChunk(of: rows) { chunk in
                let (state, context, scratch) = (buffers.state.base, buffers.context.base, buffers.scratch.base)
                layer.attentionOutput.apply(context, rows: chunk, into: scratch)
                layer.attentionNorm.apply(scratch, rows: chunk, adding: state)
                // The normalized attention block is the input of the feed-forward block and its residual.
                (state + chunk.lowerBound * hidden).update(
                    from: scratch + chunk.lowerBound * hidden,
                    count: chunk.count * hidden
                )
            }
            Self.forEachChunk(of: rows) { chunk in
                let (state, context, scratch) = (buffers.state.base, buffers.context.base, buffers.scratch.base)
                layer.intermediate.apply(state, rows: chunk, into: scratch)
                Self.gelu(
                    scratch + chunk.lowerBound * intermediateSize,
                    count: chunk.count * intermediateSize,
                    kernel: kernel
                )
                layer.output.apply(scratch, rows: chunk, into: context)
                layer.outputNorm.apply(context, rows: chunk, adding: state)
                (state + chunk.lowerBound * hidden).update(
                    from: context + chunk.lowerBound * hidden,
                    count: chunk.count * hidden
                )
            }
        }
        return (0..<sequences.count).map { index in
            Self.meanPooled(buffers.state.base, rows: offsets[index]..<offsets[index + 1], width: hidden)
        }
    }

    /// Writes word + position + token-type embeddings, layer-normalized, for every token.
    private func embedTokens(_ sequences: [[Int]], offsets: [Int], into state: UnsafeMutablePointer<Float>) {
        let hidden = configuration.hiddenSize
        wordEmbeddings.withUnsafeBufferPointer { words in
            positionEmbeddings.withUnsafeBufferPointer { positions in
                tokenTypeEmbedding.withUnsafeBufferPointer { tokenType in
                    for (index, sequence) in sequences.enumerated() {
                        for (position, id) in sequence.enumerated() {
                            let row = state + (offsets[index] + position) * hidden
                            for column in 0..<hidden {
                                row[column] =
                                    words[id * hidden + column] + positions[position * hidden + column]
                                    + tokenType[column]
                            }
                        }
                    }
                }
            }
        }
        embeddingNorm.apply(state, rows: 0..<offsets[offsets.count - 1])
    }

    /// Multi-head self-attention within each sequence: `softmax(q·kᵀ / √d)·v`, one task per (sequence, head).
    func attend(
        _ queryKeyValue: SharedFloats,
        offsets: [Int],
        into context: SharedFloats
    ) {
        typealias Lanes = DenseLayer.Lanes
        let lanes = Lanes.scalarCount
        let hidden = configuration.hiddenSize
        let heads = configuration.attentionHeads
        let headSize = hidden / heads
        let stride = 3 * hidden
        let scale = 1 / Float(headSize).squareRoot()
        let sequenceCount = offsets.count - 1
        if kernel.usesAVX2, headSize % lanes == 0 {
            DispatchQueue.concurrentPerform(iterations: sequenceCount * heads) { task in
                let (sequence, head) = (task / heads, task % heads)
                let first = offsets[sequence]
                let length = offsets[sequence + 1] - first
                let paddedLength = (length + lanes - 1) / lanes * lanes
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: (headSize + 2) * paddedLength)
                defer { scratch.deallocate() }
                osprey_attend_avx2(
                    queryKeyValue.base + first * stride + head * headSize,
                    stride,
                    hidden,
                    headSize,
                    length,
                    scale,
                    context.base + first * hidden + head * headSize,
                    hidden,
                    scratch
                )
            }
            return
        }
        DispatchQueue.concurrentPerform(iterations: sequenceCount * heads) { task in
            let sequence = task / heads
            let head = task % heads
            let first = offsets[sequence]
            let length = offsets[sequence + 1] - first
            let paddedLength = (length + lanes - 1) / lanes * lanes
            // Keys transposed (headSize × paddedLength), so scores for one query are SIMD multiply-adds along
            // the key axis; the padding columns are zero and their scores are never read.
            let keys = UnsafeMutablePointer<Float>.allocate(capacity: headSize * paddedLength)
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: paddedLength)
            defer {
                keys.deallocate()
                scores.deallocate()
            }
            keys.initialize(repeating: 0, count: headSize * paddedLength)
            let base = queryKeyValue.base + first * stride + head * headSize
            for token in 0..<length {
                let key = base + token * stride + hidden
                for dimension in 0..<headSize { keys[dimension * paddedLength + token] = key[dimension] }
            }
            let rawKeys = UnsafeRawPointer(keys)
            let rawScores = UnsafeMutableRawPointer(scores)
            for token in 0..<length {
                let query = base + token * stride
                scores.initialize(repeating: 0, count: paddedLength)
                for dimension in 0..<headSize {
                    let weight = query[dimension] * scale
                    let keyRow = dimension * paddedLength * 4
                    var column = 0
                    while column < paddedLength {
                        let sum =
                            rawScores.load(fromByteOffset: column * 4, as: Lanes.self)
                            + rawKeys.load(fromByteOffset: keyRow + column * 4, as: Lanes.self) * weight
                        rawScores.storeBytes(of: sum, toByteOffset: column * 4, as: Lanes.self)
                        column += lanes
                    }
                }
                var largest = -Float.infinity
                for column in 0..<length { largest = max(largest, scores[column]) }
                var total: Float = 0
                for column in 0..<length {
                    let weight = exp(scores[column] - largest)
                    scores[column] = weight
                    total += weight
                }
                let output = context.base + (first + token) * hidden + head * headSize
                var block = 0
                while block < headSize {
                    var sum = Lanes()
                    for column in 0..<length {
                        let value = UnsafeRawPointer(base + column * stride + 2 * hidden + block)
                        sum += value.loadUnaligned(as: Lanes.self) * scores[column]
                    }
                    UnsafeMutableRawPointer(output + block).storeBytes(of: sum / total, as: Lanes.self)
                    block += lanes
                }
            }
        }
    }

    /// Applies GELU in its exact form, `x · Φ(x) = x/2 · (1 + erf(x/√2))`, as BERT's `gelu` does (with AVX2, erf
    /// by a rational approximation whose error is a few float ulps).
    static func gelu(_ values: UnsafeMutablePointer<Float>, count: Int, kernel: DenseLayer.Kernel) {
        if kernel.usesAVX2 {
            osprey_gelu_avx2(values, count)
            return
        }
        let invSqrt2: Float = 0.707_106_77
        for index in 0..<count {
            let x = values[index]
            values[index] = 0.5 * x * (1 + erf(x * invSqrt2))
        }
    }

    /// The mean of rows `rows` of `state`, scaled to unit length.
    private static func meanPooled(_ state: UnsafePointer<Float>, rows: Range<Int>, width: Int) -> [Float] {
        var sum = [Float](repeating: 0, count: width)
        for row in rows {
            for column in 0..<width { sum[column] += state[row * width + column] }
        }
        // Dividing by the row count first, as sentence-transformers does, changes nothing after normalization
        // but keeps the arithmetic the same.
        let count = Float(max(rows.count, 1))
        var norm: Float = 0
        for column in 0..<width {
            sum[column] /= count
            norm += sum[column] * sum[column]
        }
        let scale = 1 / max(norm.squareRoot(), 1e-12)
        return sum.map { $0 * scale }
    }

    /// Splits `rows` into one contiguous chunk per core (in multiples of four rows)
    /// and runs `body` on the chunks concurrently.
    private static func forEachChunk(of rows: Int, _ body: @Sendable (Range<Int>) -> Void) {
        let blocks = (rows + 3) / 4
        let chunks = max(1, min(ProcessInfo.processInfo.activeProcessorCount, blocks))
        if chunks == 1 {
            body(0..<rows)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let lower = min(rows, blocks * chunk / chunks * 4)
            let upper = min(rows, blocks * (chunk + 1) / chunks * 4)
            if lower < upper { body(lower..<upper) }
        }
    }
}
