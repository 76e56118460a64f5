/// Layer normalization over the last dimension: `(x - mean) / sqrt(variance + epsilon) · gamma + beta`.
struct LayerNorm: Sendable {
    let gamma: [Float]
    let beta: [Float]
    let epsilon: Float

    /// Normalizes rows `rows` of `x` (`rowCount × gamma.count`) in place, after adding `residual` if given.
    func apply(_ x: UnsafeMutablePointer<Float>, rows: Range<Int>, adding residual: UnsafePointer<Float>? = nil) {
        let width = gamma.count
        gamma.withUnsafeBufferPointer { gamma in
            beta.withUnsafeBufferPointer { beta in
                for row in rows {
                    let values = x + row * width
                    if let residual {
                        let other = residual + row * width
                        for index in 0..<width { values[index] += other[index] }
                    }
                    // Two passes over a row of a few hundred floats: the mean, then the variance around it.
                    var sum: Float = 0
                    for index in 0..<width { sum += values[index] }
                    let mean = sum / Float(width)
                    var squares: Float = 0
                    for index in 0..<width {
                        let centered = values[index] - mean
                        squares += centered * centered
                    }
                    let scale = 1 / (squares / Float(width) + epsilon).squareRoot()
                    for index in 0..<width {
                        values[index] = (values[index] - mean) * scale * gamma[index] + beta[index]
                    }
                }
            }
        }
    }
}
