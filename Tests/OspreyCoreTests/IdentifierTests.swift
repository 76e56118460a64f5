import Foundation
import OspreyCore
import Testing

struct IdentifierTests {
    @Test func anIdentifierIsItsPrefixAndThirtyTwoHexDigitsWithItsTimeFirst() throws {
        // Given ids made a few milliseconds apart
        let first = Identifier<Event>.random(prefix: "evt")
        Thread.sleep(forTimeInterval: 0.003)
        let second = Identifier<Event>.random(prefix: "evt")
        // Then each is the prefix, an underscore and 32 lowercase hex digits
        for id in [first, second] {
            let digits = try #require(id.rawValue.split(separator: "_", maxSplits: 1).last)
            #expect(id.rawValue.hasPrefix("evt_") && digits.count == 32)
            #expect(digits.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        }
        // And the later one sorts after the earlier one, as an index over them grows
        #expect(first.rawValue < second.rawValue)
        // And the first 12 digits are the milliseconds since 1970
        let milliseconds = try #require(UInt64(first.rawValue.dropFirst(4).prefix(12), radix: 16))
        #expect(abs(Double(milliseconds) / 1000 - Date().timeIntervalSince1970) < 60)
    }

    @Test func idsMadeInTheSameMillisecondDifferAndSortInTheOrderTheyWereMade() {
        // Given many ids made at once (most within one millisecond), of two kinds in turn
        let ids = (0..<10_000).map { index in
            index.isMultiple(of: 2)
                ? Identifier<Event>.random(prefix: "id").rawValue : Identifier<Session>.random(prefix: "id").rawValue
        }
        // Then none repeats, and their random part varies
        #expect(Set(ids).count == ids.count)
        #expect(Set(ids.map { $0.suffix(20) }).count == ids.count)
        // And they sort in the order they were made (what "oldest first" over created_at, id relies on)
        let outOfOrder = zip(ids, ids.dropFirst()).filter { $0.0 >= $0.1 }.count
        #expect(outOfOrder == 0)
    }

    @Test func aRandomKeyIsTwoHexDigitsPerByteAndNeverRepeats() {
        // Given keys of lengths around the generator's eight-byte draws
        for count in [0, 1, 7, 8, 9, 32] {
            let keys = (0..<200).map { _ in Home.randomHex(bytes: count) }
            // Then each has two lowercase hex digits a byte
            #expect(keys.allSatisfy { $0.count == 2 * count && $0.allSatisfy { $0.isHexDigit && !$0.isUppercase } })
            // And keys of eight bytes or more never repeat, and every position varies
            if count >= 8 {
                #expect(Set(keys).count == keys.count)
                for position in 0..<(2 * count) {
                    let digits = Set(keys.map { $0[$0.index($0.startIndex, offsetBy: position)] })
                    #expect(digits.count > 4, "position \(position): \(digits)")
                }
            }
        }
        // And a token is `osp_` and 64 of them
        let token = Home.newToken()
        #expect(token.hasPrefix("osp_") && token.count == 68)
    }
}
