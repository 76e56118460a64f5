import Foundation
import Testing

/// The instant an ISO 8601 timestamp with an offset names, parsed by Foundation rather than by the code under test.
func instant(_ text: String) throws -> Date {
    try Date(text, strategy: .iso8601)
}

/// The time zone with an IANA identifier; fails the test if the system does not know it.
func zone(_ identifier: String) throws -> TimeZone {
    try #require(TimeZone(identifier: identifier))
}
