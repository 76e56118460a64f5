import OspreyCore
import Testing

@testable import OspreyEmbeddings

struct DenseLayerTests {
    /// Shapes that exercise every path: 6-row blocks and leftover rows, pairs of panels, an odd last panel, a last
    /// panel narrower than eight outputs, and MiniLM's own shapes.
    static let shapes: [(rows: Int, inputs: Int, outputs: Int)] = [
        (1, 1, 1), (5, 3, 7), (6, 9, 16), (7, 13, 24), (13, 31, 37), (20, 384, 384), (9, 384, 1536), (8, 1536, 384),
    ]

    @Test(arguments: DenseLayer.Kernel.available)
    func everyKernelComputesTheProductOfTheWeightsAsPyTorchStoresThem(kernel: DenseLayer.Kernel) {
        var random = SplitMix64(seed: 42)
        func values(_ count: Int) -> [Float] {
            (0..<count).map { _ in Float(Double(random.next() % 2001) / 1000 - 1) }
        }
        for shape in Self.shapes {
            let weight = values(shape.outputs * shape.inputs)
            let bias = values(shape.outputs)
            let x = values(shape.rows * shape.inputs)
            let layer = DenseLayer(
                weight: weight,
                bias: bias,
                inputs: shape.inputs,
                outputs: shape.outputs,
                kernel: kernel
            )
            // One row more than computed, set to a sentinel: nothing past `rows` may be written.
            var y = [Float](repeating: .nan, count: (shape.rows + 1) * shape.outputs)
            x.withUnsafeBufferPointer { x in
                y.withUnsafeMutableBufferPointer { y in
                    layer.apply(x.baseAddress!, rows: 0..<shape.rows, into: y.baseAddress!)
                }
            }
            // The BF16 kernel multiplies the inputs and weights rounded to bfloat16: against their exact product it
            // is as close as the FP32 kernels, and against the unrounded one within the rounding's bound.
            let rounded = kernel == .avx512BF16
            func operand(_ value: Float) -> Double {
                rounded ? Double(Float(bitPattern: UInt32(DenseLayer.bfloat16(value)) << 16)) : Double(value)
            }
            var (worst, worstBeyondRounding) = (Float(0), 0.0)
            for row in 0..<shape.rows {
                for output in 0..<shape.outputs {
                    var (expected, exact, magnitude) = (Double(bias[output]), Double(bias[output]), 0.0)
                    for input in 0..<shape.inputs {
                        let (a, b) = (x[row * shape.inputs + input], weight[output * shape.inputs + input])
                        expected += operand(a) * operand(b)
                        exact += Double(a) * Double(b)
                        magnitude += abs(Double(a) * Double(b))
                    }
                    let value = y[row * shape.outputs + output]
                    worst = max(worst, abs(value - Float(expected)))
                    // Each operand is within 2⁻⁹ of itself, so each product within about 2⁻⁸.
                    worstBeyondRounding = max(worstBeyondRounding, abs(Double(value) - exact) - magnitude / 256)
                }
            }
            #expect(worst < 1e-3, "\(kernel) on \(shape): off by \(worst)")
            #expect(worstBeyondRounding < 1e-3, "\(kernel) on \(shape): off by \(worstBeyondRounding) beyond rounding")
            let untouched = y[(shape.rows * shape.outputs)...].allSatisfy { $0.isNaN }
            #expect(untouched, "\(kernel) on \(shape) wrote past its rows")
        }
    }
}
