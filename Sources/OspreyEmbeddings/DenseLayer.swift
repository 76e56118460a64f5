import COspreyKernels

/// A fully connected layer, `y = x·Wᵀ + b`, with its weights packed at load time for the kernel that runs it.
///
/// PyTorch stores `W` as `outputs × inputs`. For the FP32 kernels the packed form is `W` transposed and cut into
/// panels of ``panelWidth`` output columns: panel `p` holds `inputs × panelWidth` floats, and its row `k` the weights
/// from input `k` to outputs `p·panelWidth ..< (p+1)·panelWidth`. The kernel walks one panel from start to end for
/// each block of six input rows (twelve accumulators, no spills), so its inner loop reads contiguous memory and the
/// panel stays in cache. The BF16 kernel's panels are 16 outputs wide and step two inputs at a time (see
/// `osprey_dense_bf16`), in half the memory.
struct DenseLayer: Sendable {
    typealias Lanes = SIMD8<Float>
    static let panelWidth = Lanes.scalarCount
    /// The BF16 kernel's panel: sixteen outputs, each with the weights of two inputs side by side.
    static let bfloat16PanelWidth = 16

    let inputs: Int
    let outputs: Int
    /// The kernel the weights are packed for.
    let kernel: Kernel
    private let packed: Packed
    /// The bias, zero-padded to whole panels of either width.
    private let bias: [Float]

    private enum Packed: Sendable {
        case float([Float])
        case bfloat16([UInt16])
    }

    /// Packs `weight` (`outputs × inputs`, row-major, as PyTorch stores it) and `bias` (`outputs`) for `kernel`.
    init(weight: [Float], bias: [Float], inputs: Int, outputs: Int, kernel: Kernel = .best) {
        precondition(weight.count == inputs * outputs && bias.count == outputs, "shapes are checked when loading")
        self.inputs = inputs
        self.outputs = outputs
        self.kernel = kernel
        let padded = (outputs + Self.bfloat16PanelWidth - 1) / Self.bfloat16PanelWidth * Self.bfloat16PanelWidth
        self.bias = bias + [Float](repeating: 0, count: padded - outputs)
        if kernel == .avx512BF16 {
            let width = Self.bfloat16PanelWidth
            let pairs = (inputs + 1) / 2
            var packed = [UInt16](repeating: 0, count: padded / width * pairs * 2 * width)
            for output in 0..<outputs {
                let lane = (output / width) * pairs * 2 * width + (output % width) * 2
                for input in 0..<inputs {
                    packed[lane + (input / 2) * 2 * width + input % 2] = Self.bfloat16(weight[output * inputs + input])
                }
            }
            self.packed = .bfloat16(packed)
            return
        }
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
        self.packed = .float(packed)
    }

    /// `value` rounded to bfloat16 (its upper 16 bits), to nearest with ties to even, as the BF16 kernel rounds its
    /// inputs.
    static func bfloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// The matrix product's implementation, chosen at run time: BF16 dot products with AVX-512 (weights and inputs
    /// rounded to bfloat16, sums in float: twice the multiply-adds per instruction), FP32 with AVX2 and FMA (both
    /// in C), or portable SIMD.
    enum Kernel: Sendable, CaseIterable {
        case portable, avx2, avx512BF16

        /// The fastest this CPU runs.
        static let best: Kernel =
            osprey_cpu_has_avx512_bf16() != 0 ? .avx512BF16 : osprey_cpu_has_avx2_fma() != 0 ? .avx2 : .portable

        /// The kernels this CPU can run.
        static var available: [Kernel] {
            switch best {
            case .avx512BF16: [.portable, .avx2, .avx512BF16]
            case .avx2: [.portable, .avx2]
            case .portable: [.portable]
            }
        }

        /// Whether attention and GELU run their AVX2/FMA kernels (every CPU with a vector kernel has AVX2).
        var usesAVX2: Bool { self != .portable }
    }

    /// Computes rows `rows` of `y` (`rowCount × outputs`) from the same rows of `x` (`rowCount × inputs`).
    func apply(_ x: UnsafePointer<Float>, rows: Range<Int>, into y: UnsafeMutablePointer<Float>) {
        let inputs = inputs
        let outputs = outputs
        guard !rows.isEmpty else { return }
        switch packed {
        case .bfloat16(let packed):
            let scratch = UnsafeMutablePointer<UInt32>.allocate(capacity: rows.count * ((inputs + 1) / 2))
            defer { scratch.deallocate() }
            packed.withUnsafeBufferPointer { packed in
                bias.withUnsafeBufferPointer { bias in
                    osprey_dense_bf16(
                        x,
                        rows.lowerBound,
                        rows.upperBound,
                        inputs,
                        outputs,
                        packed.baseAddress!,  // non-empty: a layer has at least one input and one output
                        bias.baseAddress!,
                        y,
                        scratch
                    )
                }
            }
        case .float(let packed) where kernel == .avx2:
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
        case .float(let packed):
            Self.portableProduct(x, rows: rows, into: y, packed: packed, bias: bias, inputs: inputs, outputs: outputs)
        }
    }

    /// The product with portable SIMD, from the FP32 panels.
    private static func portableProduct(
        _ x: UnsafePointer<Float>,
        rows: Range<Int>,
        into y: UnsafeMutablePointer<Float>,
        packed: [Float],
        bias: [Float],
        inputs: Int,
        outputs: Int
    ) {
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
