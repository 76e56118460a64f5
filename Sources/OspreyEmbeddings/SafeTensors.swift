public import Foundation

/// The tensors of a `.safetensors` file, read from a memory-mapped copy of the file.
///
/// The format is an 8-byte little-endian header length, a JSON header mapping each tensor name to its
/// `dtype`, `shape` and `data_offsets`, then the raw little-endian tensor bytes.
public struct SafeTensors: Sendable {
    /// Where one tensor lives in the file, and how to read it.
    public struct Tensor: Hashable, Sendable {
        /// The element type as the header spells it: `F32`, `F16`, `BF16`, `I64`, ….
        public var dataType: String
        public var shape: [Int]
        /// The tensor's bytes, relative to the start of the data section.
        public var byteRange: Range<Int>

        /// The number of elements, the product of the shape.
        public var count: Int { shape.reduce(1, *) }
    }

    /// The tensors by name.
    public let tensors: [String: Tensor]
    /// The free-form `__metadata__` strings of the header.
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int
    private let path: String

    /// Opens the file at `url`, mapping it into memory rather than reading it.
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw EmbeddingError.modelFile(path: url.path, reason: "\(error)")
        }
        try self.init(data: data, path: url.path)
    }

    /// Parses safetensors bytes already in memory; `path` only labels errors.
    public init(data: Data, path: String = "<memory>") throws {
        self.data = data
        self.path = path
        func fail(_ reason: String) -> EmbeddingError { .modelFile(path: path, reason: reason) }
        guard data.count >= 8 else { throw fail("shorter than the 8-byte header length") }
        var headerLength = 0
        for index in 0..<8 { headerLength |= Int(data[data.startIndex + index]) << (8 * index) }
        guard headerLength > 0, headerLength <= data.count - 8 else {
            throw fail("header length \(headerLength) exceeds the file size \(data.count)")
        }
        dataStart = 8 + headerLength
        let header = data[(data.startIndex + 8)..<(data.startIndex + dataStart)]
        guard let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        let dataLength = data.count - dataStart
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in json {
            if name == "__metadata__" {
                metadata = value as? [String: String] ?? [:]
                continue
            }
            guard let entry = value as? [String: Any],
                let dataType = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int],
                let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw fail("tensor \(name) has a malformed header entry") }
            guard 0 <= offsets[0], offsets[0] <= offsets[1], offsets[1] <= dataLength else {
                throw fail("tensor \(name) lies outside the file")
            }
            let tensor = Tensor(dataType: dataType, shape: shape, byteRange: offsets[0]..<offsets[1])
            if let size = Self.elementSize(of: dataType), tensor.count * size != tensor.byteRange.count {
                throw fail("tensor \(name) has \(tensor.byteRange.count) bytes for shape \(shape)")
            }
            tensors[name] = tensor
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The elements of tensor `name` in row-major order, converted to `Float` from F32, F16 or BF16.
    public func floats(_ name: String) throws -> [Float] {
        guard let tensor = tensors[name] else { throw EmbeddingError.missingTensor(name: name) }
        let start = dataStart + tensor.byteRange.lowerBound
        let count = tensor.count
        return try data.withUnsafeBytes { raw in
            let bytes = UnsafeRawBufferPointer(rebasing: raw[start..<(start + tensor.byteRange.count)])
            switch tensor.dataType {
            case "F32":
                return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    for index in 0..<count {
                        let bits = bytes.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)
                        buffer[index] = Float(bitPattern: UInt32(littleEndian: bits))
                    }
                    initialized = count
                }
            case "F16":
                return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    for index in 0..<count {
                        let bits = bytes.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)
                        buffer[index] = Self.halfToFloat(UInt16(littleEndian: bits))
                    }
                    initialized = count
                }
            case "BF16":
                return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    for index in 0..<count {
                        let bits = bytes.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)
                        buffer[index] = Float(bitPattern: UInt32(UInt16(littleEndian: bits)) << 16)
                    }
                    initialized = count
                }
            default:
                throw EmbeddingError.unsupportedDataType(name: name, dataType: tensor.dataType)
            }
        }
    }

    /// The elements of tensor `name`, after checking that its shape is `shape`.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        guard let tensor = tensors[name] else { throw EmbeddingError.missingTensor(name: name) }
        guard tensor.shape == shape else {
            throw EmbeddingError.tensorShape(name: name, expected: shape, actual: tensor.shape)
        }
        return try floats(name)
    }

    /// The size in bytes of one element of `dataType`, or nil for a type this reader doesn't know.
    static func elementSize(of dataType: String) -> Int? {
        switch dataType {
        case "F64", "I64", "U64": 8
        case "F32", "I32", "U32": 4
        case "F16", "BF16", "I16", "U16": 2
        case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2": 1
        default: nil
        }
    }

    /// Converts an IEEE 754 half-precision bit pattern to a `Float`, subnormals included.
    static func halfToFloat(_ half: UInt16) -> Float {
        let sign = UInt32(half & 0x8000) << 16
        let exponent = UInt32(half >> 10) & 0x1F
        let mantissa = UInt32(half & 0x03FF)
        switch exponent {
        case 0:
            // Subnormal (or zero): the value is mantissa × 2⁻²⁴, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
        }
    }
}
