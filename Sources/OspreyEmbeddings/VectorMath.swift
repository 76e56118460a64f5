/// The dot products and normalization the vector indexes share, written for the optimizer to vectorize.
public enum VectorMath {
    /// The dot product of `count` floats at `a` and `b`, in 16-wide and 8-wide SIMD lanes.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var wide = SIMD16<Float>()
        var index = 0
        let rawA = UnsafeRawPointer(a)
        let rawB = UnsafeRawPointer(b)
        while index + 16 <= count {
            let offset = index * MemoryLayout<Float>.stride
            wide +=
                rawA.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                * rawB.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            index += 16
        }
        var narrow = wide.lowHalf + wide.highHalf
        while index + 8 <= count {
            let offset = index * MemoryLayout<Float>.stride
            narrow +=
                rawA.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                * rawB.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            index += 8
        }
        var sum = narrow.sum()
        while index < count {
            sum += a[index] * b[index]
            index += 1
        }
        return sum
    }

    /// The dot product of two arrays of equal length.
    public static func dot(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "dot product of vectors of different lengths")
        return a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                // Empty arrays may have no base address; their dot product is zero.
                guard let baseA = a.baseAddress, let baseB = b.baseAddress else { return 0 }
                return dot(baseA, baseB, count: a.count)
            }
        }
    }

    /// A search query scaled to unit length; a query of the wrong dimension, all zeros or not finite is an error.
    static func unitQuery(_ query: [Float], dimension: Int) throws -> [Float] {
        guard query.count == dimension else {
            throw VectorIndexError.dimensionMismatch(expected: dimension, actual: query.count)
        }
        guard let unit = normalized(query) else { throw VectorIndexError.invalidVector(id: "query") }
        return unit
    }

    /// The vector scaled to unit length, or nil when it is all zeros or holds NaN or infinity.
    public static func normalized(_ vector: [Float]) -> [Float]? {
        let squared = dot(vector, vector)
        guard squared.isFinite, squared > 0 else { return nil }
        let scale = 1 / squared.squareRoot()
        return vector.map { $0 * scale }
    }
}
