import Foundation
import OspreyCore
import Testing

/// The hand-written timestamp and hex writers against Foundation's and the obvious ones.
struct WireFormatTests {
    static let foundation = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    @Test func timestampsAreWrittenAsFoundationsISO8601StyleWritesThem() {
        var generator = SystemRandomNumberGenerator()
        // Whole milliseconds, the same nudged a microsecond either way (the truncation's edge), any instant of
        // 1970-2100, leap days and the ends of the range written by hand, and instants outside it.
        var instants: [Double] = [
            0, 0.0004, 0.9995, 951_782_400, 951_868_799.999, 1_709_164_800.5, 4_102_444_799.999, 253_402_300_799,
            253_402_300_799.5, 253_402_300_800, -0.0004, -1.5, -86_400 * 365.25 * 100,
        ]
        for _ in 0..<20_000 {
            let milliseconds = Double(Int.random(in: 1_600_000_000_000..<2_000_000_000_000, using: &generator)) / 1000
            instants += [
                milliseconds, milliseconds + 1e-6, milliseconds - 1e-6,
                Double.random(in: 0..<4_102_444_800, using: &generator),
            ]
        }
        let mismatches = instants.filter { instant in
            let date = Date(timeIntervalSince1970: instant)
            return WireFormat.timestamp(date) != date.formatted(Self.foundation)
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        #expect(WireFormat.timestamp(Date(timeIntervalSince1970: 1_764_991_901.123_9)) == "2025-12-06T03:31:41.123Z")
        // And what it writes reads back to the same millisecond
        let now = Date()
        let read = WireFormat.date(from: WireFormat.timestamp(now))
        #expect(read.map { abs($0.timeIntervalSince(now)) < 0.001 } == true)
    }

    @Test func hexIsTwoLowercaseDigitsAByte() {
        let bytes: [UInt8] = Array(0...255)
        let expected = bytes.map { String(format: "%02x", $0) }.joined()
        #expect(bytes.hexString == expected)
        #expect(bytes[3..<7].hexString == "03040506")
        #expect([UInt8]().hexString == "")
        #expect(AnySequence(bytes).hexString == expected)
        #expect(
            Event.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        #expect([UInt8](hexString: expected) == bytes)
    }
}
