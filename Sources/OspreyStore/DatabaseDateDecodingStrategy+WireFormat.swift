import GRDB
import OspreyCore

extension DatabaseDateDecodingStrategy {
    /// Dates stored as text by ``WireFormat/timestamp(_:)``, the one date format on disk.
    static var wireFormat: Self {
        .custom { value in String.fromDatabaseValue(value).flatMap(WireFormat.date(from:)) }
    }
}
