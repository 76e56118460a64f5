import Foundation
import OspreyCore
import OspreyTesting
import Testing

@testable import OspreyEmbeddings

/// The encoder's element-wise and attention kernels: each kernel this CPU has against a reference in Double.
struct EncoderKernelTests {
    @Test(arguments: DenseLayer.Kernel.attentionAndGELU)
    func geluMatchesItsExactFormWithinAFewUlps(kernel: DenseLayer.Kernel) {
        // Given values across GELU's whole range (its tails, zero, and a count that is not a multiple of eight)
        var values = stride(from: -12.0, through: 12.0, by: 0.0013).map(Float.init)
        values += [0, -0, .leastNormalMagnitude, 1e-30, -1e-30, 40, -40]
        let inputs = values

        // When GELU is applied in place
        values.withUnsafeMutableBufferPointer { buffer in
            MiniLMEmbedder.gelu(buffer.baseAddress!, count: buffer.count, kernel: kernel)
        }

        // Then every value is x/2 · (1 + erf(x/√2)) to within 1e-6 of |x| (and of 1e-6 absolutely)
        var worst = 0.0
        for (input, output) in zip(inputs, values) {
            let x = Double(input)
            let exact = x / 2 * (1 + erf(x / 2.0.squareRoot()))
            worst = max(worst, abs(Double(output) - exact) / max(1, abs(x)))
        }
        #expect(worst < 1e-6, "worst error \(worst)")
        #expect(values.last == 0, "GELU(-40) is zero")
        #expect(values[values.count - 2] == 40, "GELU(40) is 40")
    }

    @Test(
        .enabled(if: TestResources.modelDirectory != nil, TestResources.modelAbsent),
        arguments: DenseLayer.Kernel.attentionAndGELU
    )
    func attentionMatchesSoftmaxOfScaledScoresTimesValues(kernel: DenseLayer.Kernel) throws {
        // Given the model's shape (12 heads of 32) and sequences of lengths around the kernels' blocks of 2 rows,
        // 8 lanes and 32 keys, with random queries, keys and values
        let embedder = try MiniLMEmbedder(directory: #require(TestResources.modelDirectory), kernel: kernel)
        let hidden = embedder.dimensions
        let heads = 12
        let headSize = hidden / heads
        let lengths = [1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 70]
        var offsets = [0]
        for length in lengths { offsets.append(offsets[offsets.count - 1] + length) }
        let rows = offsets[offsets.count - 1]
        var random = SplitMix64(seed: 7)
        let queryKeyValue = SharedFloats(count: rows * 3 * hidden)
        let context = SharedFloats(count: rows * hidden)
        defer {
            queryKeyValue.deallocate()
            context.deallocate()
        }
        for index in 0..<(rows * 3 * hidden) {
            queryKeyValue.base[index] = Float(Double(random.next() % 4001) / 1000 - 2)
        }

        // When the encoder attends within each sequence
        embedder.attend(queryKeyValue, offsets: offsets, into: context)

        // Then each row of each head is softmax(q·kᵀ/√d)·v of its own sequence, computed here in Double
        var worst = 0.0
        let stride = 3 * hidden
        let scale = 1 / Double(headSize).squareRoot()
        for (sequence, length) in lengths.enumerated() {
            let first = offsets[sequence]
            for head in 0..<heads {
                let column = head * headSize
                for token in 0..<length {
                    let query = (first + token) * stride + column
                    let scores = (0..<length).map { other in
                        let key = (first + other) * stride + hidden + column
                        return (0..<headSize).reduce(0.0) {
                            $0 + Double(queryKeyValue.base[query + $1]) * Double(queryKeyValue.base[key + $1])
                        } * scale
                    }
                    let largest = scores.max() ?? 0
                    let weights = scores.map { exp($0 - largest) }
                    let total = weights.reduce(0, +)
                    for dimension in 0..<headSize {
                        let expected =
                            (0..<length).reduce(0.0) {
                                $0 + weights[$1]
                                    * Double(
                                        queryKeyValue.base[(first + $1) * stride + 2 * hidden + column + dimension]
                                    )
                            } / total
                        let actual = Double(context.base[(first + token) * hidden + column + dimension])
                        worst = max(worst, abs(actual - expected))
                    }
                }
            }
        }
        #expect(worst < 1e-5, "worst error \(worst)")
    }
}

extension DenseLayer.Kernel {
    /// The kernels with attention and GELU of their own: the BF16 kernel runs AVX2's.
    static var attentionAndGELU: [Self] { available.filter { $0 != .avx512BF16 } }
}
