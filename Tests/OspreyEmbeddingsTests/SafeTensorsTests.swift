import Foundation
import OspreyEmbeddings
import Testing

struct SafeTensorsTests {
    /// Builds a safetensors file from a JSON header and the data bytes that follow it.
    static func file(header: String, data: [UInt8]) -> Data {
        var bytes = [UInt8](repeating: 0, count: 8)
        let json = Array(header.utf8)
        for index in 0..<8 { bytes[index] = UInt8((json.count >> (8 * index)) & 0xFF) }
        return Data(bytes + json + data)
    }

    static func littleEndian(_ values: [Float]) -> [UInt8] {
        values.flatMap { value in (0..<4).map { UInt8((value.bitPattern >> (8 * $0)) & 0xFF) } }
    }

    @Test func readsFloat32TensorsAndMetadata() throws {
        let header = """
            {"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[3],"data_offsets":[16,28]},\
            "a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}
            """
        let tensors = try SafeTensors(
            data: Self.file(header: header, data: Self.littleEndian([1, 2, 3, 4, -1, 0.5, 7]))
        )
        #expect(tensors.metadata == ["format": "pt"])
        #expect(tensors.tensors["a"]?.shape == [2, 2])
        #expect(try tensors.floats("a") == [1, 2, 3, 4])
        #expect(try tensors.floats("b", shape: [3]) == [-1, 0.5, 7])
    }

    @Test func convertsHalfAndBrainFloats() throws {
        let header = """
            {"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[10,14]}}
            """
        // F16: 1, -2, 0.5, the smallest subnormal (2^-24), +infinity. BF16: 1, -3.
        let data: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38, 0x01, 0x00, 0x00, 0x7C, 0x80, 0x3F, 0x40, 0xC0]
        let tensors = try SafeTensors(data: Self.file(header: header, data: data))
        #expect(try tensors.floats("h") == [1, -2, 0.5, 0x1p-24, .infinity])
        #expect(try tensors.floats("b") == [1, -3])
    }

    @Test func wrongShapesAndMissingTensorsThrow() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let tensors = try SafeTensors(data: Self.file(header: header, data: Self.littleEndian([1, 2])))
        #expect(throws: EmbeddingError.tensorShape(name: "a", expected: [1, 2], actual: [2])) {
            try tensors.floats("a", shape: [1, 2])
        }
        #expect(throws: EmbeddingError.missingTensor(name: "b")) { try tensors.floats("b") }
    }

    @Test(arguments: [
        #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
        #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#,
        #"{"a":{"dtype":"F32","shape":[2]}}"#,
        "not json",
    ])
    func malformedHeadersAreRejected(header: String) {
        #expect(throws: EmbeddingError.self) {
            try SafeTensors(data: Self.file(header: header, data: Self.littleEndian([1, 2])))
        }
    }
}
