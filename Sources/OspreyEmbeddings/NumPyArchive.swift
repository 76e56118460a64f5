public import Foundation

/// The arrays of an uncompressed `.npz` file (what `np.savez` writes): a zip archive of `.npy` files.
///
/// Only what the reference file needs: stored (not deflated) entries with ZIP64 sizes, little-endian `<f4`
/// matrices and `<U` string vectors in C order.
public struct NumPyArchive {
    /// One `.npy` array: its dtype descriptor, shape and raw data bytes.
    public struct Array {
        public var descriptor: String
        public var shape: [Int]
        public var data: Data

        /// The rows of a `<f4` matrix.
        public func floatRows() throws -> [[Float]] {
            guard descriptor == "<f4", shape.count == 2 else { throw NumPyError("not a <f4 matrix: \(descriptor)") }
            let columns = shape[1]
            let values = data.withUnsafeBytes { raw in
                (0..<(shape[0] * columns)).map { index in
                    Float(
                        bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
                    )
                }
            }
            return (0..<shape[0]).map { Swift.Array(values[($0 * columns)..<(($0 + 1) * columns)]) }
        }

        /// The elements of a `<U` vector of fixed-width UTF-32 strings.
        public func strings() throws -> [String] {
            guard descriptor.hasPrefix("<U"), let width = Int(descriptor.dropFirst(2)), shape.count == 1 else {
                throw NumPyError("not a <U vector: \(descriptor)")
            }
            return data.withUnsafeBytes { raw in
                (0..<shape[0]).map { index in
                    var scalars = String.UnicodeScalarView()
                    for position in 0..<width {
                        let value = raw.loadUnaligned(fromByteOffset: (index * width + position) * 4, as: UInt32.self)
                        if value != 0, let scalar = Unicode.Scalar(UInt32(littleEndian: value)) {
                            scalars.append(scalar)
                        }
                    }
                    return String(scalars)
                }
            }
        }
    }

    /// The arrays by name, without the `.npy` suffix.
    public var arrays: [String: Array] = [:]

    /// Reads the archive at `url`.
    public init(contentsOf url: URL) throws {
        let bytes = [UInt8](try Data(contentsOf: url))
        func integer(at offset: Int, size: Int) throws -> Int {
            guard offset >= 0, offset + size <= bytes.count else { throw NumPyError("truncated at \(offset)") }
            var value = 0
            for index in 0..<size { value |= Int(bytes[offset + index]) << (8 * index) }
            return value
        }
        var offset = 0
        // Walk the local file headers ("PK\u{3}\u{4}") until the central directory begins.
        while try offset + 30 <= bytes.count && integer(at: offset, size: 4) == 0x0403_4B50 {
            let flags = try integer(at: offset + 6, size: 2)
            let method = try integer(at: offset + 8, size: 2)
            guard method == 0, flags & 0x8 == 0 else { throw NumPyError("compressed or streamed entry") }
            var size = try integer(at: offset + 22, size: 4)
            let nameLength = try integer(at: offset + 26, size: 2)
            let extraLength = try integer(at: offset + 28, size: 2)
            let name = String(decoding: bytes[(offset + 30)..<(offset + 30 + nameLength)], as: UTF8.self)
            let extraStart = offset + 30 + nameLength
            if size == 0xFFFF_FFFF {
                // ZIP64: the real sizes are in extra field 0x0001, uncompressed size first.
                var field = extraStart
                while field + 4 <= extraStart + extraLength {
                    let id = try integer(at: field, size: 2)
                    let length = try integer(at: field + 2, size: 2)
                    if id == 1 { size = try integer(at: field + 4, size: 8) }
                    field += 4 + length
                }
            }
            let start = extraStart + extraLength
            guard start + size <= bytes.count else { throw NumPyError("entry \(name) is truncated") }
            let key = name.hasSuffix(".npy") ? String(name.dropLast(4)) : name
            arrays[key] = try Self.parseNPY(bytes[start..<(start + size)])
            offset = start + size
        }
    }

    /// Parses one `.npy` file: magic, version, header length, a Python-dict header, then the data.
    private static func parseNPY(_ bytes: ArraySlice<UInt8>) throws -> Array {
        let base = bytes.startIndex
        guard bytes.count >= 10, bytes[base] == 0x93, bytes[(base + 1)..<(base + 6)].elementsEqual("NUMPY".utf8)
        else { throw NumPyError("not an .npy file") }
        let major = bytes[base + 6]
        let lengthSize = major == 1 ? 2 : 4
        var headerLength = 0
        for index in 0..<lengthSize { headerLength |= Int(bytes[base + 8 + index]) << (8 * index) }
        let headerStart = base + 8 + lengthSize
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard header.contains("'fortran_order': False"),
            let descriptor = Self.value(of: "descr", in: header, from: "'", to: "'"),
            let shapeText = Self.value(of: "shape", in: header, from: "(", to: ")")
        else { throw NumPyError("unsupported header \(header)") }
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return Array(descriptor: descriptor, shape: shape, data: Data(bytes[(headerStart + headerLength)...]))
    }

    /// The text between `open` and `close` after the key `'key':` in an .npy header.
    private static func value(of key: String, in header: String, from open: Character, to close: Character) -> String? {
        guard let keyRange = header.range(of: "'\(key)':") else { return nil }
        let rest = header[keyRange.upperBound...]
        guard let start = rest.firstIndex(of: open) else { return nil }
        let afterOpen = rest.index(after: start)
        guard let end = rest[afterOpen...].firstIndex(of: close) else { return nil }
        return String(rest[afterOpen..<end])
    }
}

/// A malformed or unsupported `.npz` file.
public struct NumPyError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}
