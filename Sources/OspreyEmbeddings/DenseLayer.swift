import COspreyKernels

/// A fully connected layer, `y = x·Wᵀ + b`, with its weights packed at load time for a SIMD kernel.
///
/// PyTorch stores `W` as `outputs × inputs`. The packed form is `W` transposed and cut into panels of
/// ``panelWidth`` output columns: panel `p` holds `inputs × panelWidth` floats, and its row `k` the weights from
/// input `k` to outputs `p·panelWidth ..< (p+1)·panelWidth`. The kernel walks one panel from start to end for
/// each block of six input rows (twelve SSE accumulators, no spills), so its inner loop reads contiguous
/// memory and the panel stays in cache.
struct DenseLayer: Sendable {
    typealias Lanes = SIMD8<Float>
    static let panelWidth = Lanes.scalarCount

    let inputs: Int
    let outputs: Int
    private let packed: [Float]
    /// The bias, zero-padded to whole panels.
    private let bias: [Float]

    /// Packs `weight` (`outputs × inputs`, row-major, as PyTorch stores it) and `bias` (`outputs`).
    init(weight: [Float], bias: [Float], inputs: Int, outputs: Int) {
        precondition(weight.count == inputs * outputs && bias.count == outputs, "shapes are checked when loading")
        self.inputs = inputs
        self.outputs = outputs
        let width = Self.panelWidth
        let panels = (outputs + width - 1) / width
        var packed = [Float](repeating: 0, count: panels * inputs * width)
        for output in 0..<outputs {
            let panelStart = (output / width) * inputs * width
            let lane = output % width
            for input in 0..<inputs {
                packed[panelStart + input * width + lane] = weight[output * inputs + input]
            }
        }
        self.packed = packed
        self.bias = bias + [Float](repeating: 0, count: panels * width - outputs)
    }

    /// The matrix product's implementation: AVX2 with FMA (in C) where the CPU has them, else portable SIMD.
    enum Kernel: Sendable, CaseIterable {
        case portable, avx2

        /// The fastest this CPU runs.
        static let best: Kernel = osprey_cpu_has_avx2_fma() != 0 ? .avx2 : .portable

        /// The kernels this CPU can run.
        static var available: [Kernel] { best == .avx2 ? [.portable, .avx2] : [.portable] }
    }

    /// Computes rows `rows` of `y` (`rowCount × outputs`) from the same rows of `x` (`rowCount × inputs`).
    func apply(
        _ x: UnsafePointer<Float>,
        rows: Range<Int>,
        into y: UnsafeMutablePointer<Float>,
        kernel: Kernel = .best
    ) {
        let inputs = inputs
        let outputs = outputs
        guard kernel == .portable else {
            packed.withUnsafeBufferPointer { packed in
                bias.withUnsafeBufferPointer { bias in
                    osprey_dense_avx2(
                        x,
                        rows.lowerBound,
                        rows.upperBound,
                        inputs,
                        outputs,
                        packed.baseAddress!,  // non-empty: a layer has at least one input and one output
                        bias.baseAddress!,
                        y
                    )
                }
            }
            return
        }
        let width = Self.panelWidth
        packed.withUnsafeBufferPointer { packedBuffer in
            bias.withUnsafeBufferPointer { biasBuffer in
                // Both arrays are non-empty: a layer has at least one input and one output.
                let packedBase = UnsafeRawPointer(packedBuffer.baseAddress!)
                let biasBase = UnsafeRawPointer(biasBuffer.baseAddress!)
                var panelStart = 0
                while panelStart < outputs {
                    let panel = packedBase + panelStart * inputs * MemoryLayout<Float>.stride
                    let start = biasBase.loadUnaligned(fromByteOffset: panelStart * 4, as: Lanes.self)
                    let columns = min(width, outputs - panelStart)
                    var row = rows.lowerBound
                    while row + 6 <= rows.upperBound {
                        let x0 = x + row * inputs
                        let x1 = x0 + inputs
                        let x2 = x1 + inputs
                        let x3 = x2 + inputs
                        let x4 = x3 + inputs
                        let x5 = x4 + inputs
                        var a0 = start
                        var a1 = start
                        var a2 = start
                        var a3 = start
                        var a4 = start
                        var a5 = start
                        for k in 0..<inputs {
                            let w = panel.loadUnaligned(fromByteOffset: k * width * 4, as: Lanes.self)
                            a0 += w * x0[k]
                            a1 += w * x1[k]
                            a2 += w * x2[k]
                            a3 += w * x3[k]
                            a4 += w * x4[k]
                            a5 += w * x5[k]
                        }
                        let y0 = y + row * outputs + panelStart
                        Self.store(a0, to: y0, columns: columns)
                        Self.store(a1, to: y0 + outputs, columns: columns)
                        Self.store(a2, to: y0 + 2 * outputs, columns: columns)
                        Self.store(a3, to: y0 + 3 * outputs, columns: columns)
                        Self.store(a4, to: y0 + 4 * outputs, columns: columns)
                        Self.store(a5, to: y0 + 5 * outputs, columns: columns)
                        row += 6
                    }
                    while row < rows.upperBound {
                        let x0 = x + row * inputs
                        var a0 = start
                        for k in 0..<inputs {
                            a0 += panel.loadUnaligned(fromByteOffset: k * width * 4, as: Lanes.self) * x0[k]
                        }
                        Self.store(a0, to: y + row * outputs + panelStart, columns: columns)
                        row += 1
                    }
                    panelStart += width
                }
            }
        }
    }

    /// Writes the first `columns` lanes of `lanes`; only a last, partial panel writes fewer than all.
    @inline(__always)
    private static func store(_ lanes: Lanes, to destination: UnsafeMutablePointer<Float>, columns: Int) {
        if columns == Lanes.scalarCount {
            UnsafeMutableRawPointer(destination).storeBytes(of: lanes, as: Lanes.self)
        } else {
            for lane in 0..<columns { destination[lane] = lanes[lane] }
        }
    }
}
