public import Foundation
import OspreyCore

/// The columns of a statement's rows, with each name's position: shared by every row of the statement (and, on
/// SQLite, kept for each distinct statement), so a row reads a column by name with one hash lookup.
public final class SQLColumns: Sendable, Hashable {
    public let names: [String]
    let positions: [String: Int]

    public init(_ names: [String]) {
        self.names = names
        // The first of repeated names wins, as a by-name read of a row finds the first.
        positions = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public static func == (lhs: SQLColumns, rhs: SQLColumns) -> Bool { lhs === rhs || lhs.names == rhs.names }
    public func hash(into hasher: inout Hasher) { hasher.combine(names) }
}

/// One result row, from either engine: its columns by name, in the engine-neutral ``SQLValue``s.
public struct SQLRow: Sendable, Hashable {
    public let layout: SQLColumns
    public let values: [SQLValue]

    public init(columns: SQLColumns, values: [SQLValue]) {
        self.layout = columns
        self.values = values
    }

    public init(columns: [String], values: [SQLValue]) {
        self.init(columns: SQLColumns(columns), values: values)
    }

    /// The column names, in order.
    public var columns: [String] { layout.names }

    /// The raw value of a column; nil when the row has no such column.
    public func value(_ column: String) -> SQLValue? {
        layout.positions[column].map { values[$0] }
    }

    /// A column's value as `T` (an optional `T` for a nullable column). A missing column, or a value that is not a
    /// `T`, is a schema the code does not match: a programming error, stopped here as GRDB's `row[column]` does.
    public subscript<T: SQLValueConvertible>(_ column: String) -> T {
        guard let value = value(column) else { preconditionFailure("no column '\(column)' in \(columns)") }
        guard let converted = T.fromSQL(value) else {
            preconditionFailure("column '\(column)' holds \(value), not a \(T.self)")
        }
        return converted
    }

    /// The value of the column at `index`, as `T` (stopped on a wrong type, as by name).
    public subscript<T: SQLValueConvertible>(_ index: Int) -> T {
        guard let converted = T.fromSQL(values[index]) else {
            preconditionFailure("column \(index) holds \(values[index]), not a \(T.self)")
        }
        return converted
    }

    /// A column's value as `T`, or nil (a missing column, NULL, or another type).
    public func optional<T: SQLValueConvertible>(_ column: String, as type: T.Type = T.self) -> T? {
        value(column).flatMap(T.fromSQL)
    }

    /// The record this row holds, through its `Decodable` form: its coding keys are the columns, dates are text in
    /// ``WireFormat``, enums and identifiers their raw text, and nested values decode from the same row.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try T(from: SQLRowDecoder(row: self, codingPath: []))
    }
}

extension SQLRow {
    /// A timestamp column (``WireFormat`` text) of a `table` row, nil when NULL; text that is no timestamp is a
    /// ``StoreError/invalid(_:)`` naming the column (records read column by column use it, not a date strategy).
    func timestamp(_ column: String, of table: String) throws -> Date? {
        guard let text = self[column] as String? else { return nil }
        guard let date = WireFormat.date(from: text) else {
            throw StoreError.invalid("\(table).\(column) is not a timestamp: \(text)")
        }
        return date
    }
}

/// Decodes a record from a row, as GRDB's `FetchableRecord` did with the `wireFormat` date strategy.
struct SQLRowDecoder: Decoder {
    let row: SQLRow
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Keyed(row: row, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch(
            [Any].self,
            .init(codingPath: codingPath, debugDescription: "a row is decoded by column, not as a list")
        )
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        throw DecodingError.typeMismatch(
            SQLRow.self,
            .init(codingPath: codingPath, debugDescription: "a row is decoded by column, not as one value")
        )
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let row: SQLRow
        var codingPath: [any CodingKey]
        var allKeys: [Key] { row.columns.compactMap(Key.init(stringValue:)) }

        func contains(_ key: Key) -> Bool { row.value(key.stringValue) != nil }

        func decodeNil(forKey key: Key) throws -> Bool {
            switch row.value(key.stringValue) {
            case .null, nil: true
            default: false
            }
        }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            guard let value = row.value(key.stringValue) else {
                throw DecodingError.keyNotFound(
                    key,
                    .init(codingPath: codingPath, debugDescription: "no column '\(key.stringValue)'")
                )
            }
            return try Column(value: value, codingPath: codingPath + [key]).decode(T.self)
        }

        func nestedContainer<NestedKey: CodingKey>(
            keyedBy type: NestedKey.Type,
            forKey key: Key
        ) throws -> KeyedDecodingContainer<NestedKey> {
            throw DecodingError.typeMismatch(
                [String: Any].self,
                .init(codingPath: codingPath + [key], debugDescription: "a column holds one value")
            )
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try Column(value: row.value(key.stringValue) ?? .null, codingPath: codingPath + [key]).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder { SQLRowDecoder(row: row, codingPath: codingPath) }
        func superDecoder(forKey key: Key) throws -> any Decoder { SQLRowDecoder(row: row, codingPath: codingPath) }
    }

    /// One column's value: a scalar, a date in ``WireFormat``, or JSON text for arrays and objects.
    struct Column: Decoder, SingleValueDecodingContainer {
        let value: SQLValue
        var codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            if let convertible = type as? any SQLValueConvertible.Type {
                guard let converted = convertible.fromSQL(value) as? T else { throw mismatch(type) }
                return converted
            }
            if type == Date.self {
                guard let text = String.fromSQL(value), let date = WireFormat.date(from: text) else {
                    throw mismatch(type)
                }
                return date as! T  // checked: T is Date
            }
            return try T(from: self)
        }

        func mismatch(_ type: Any.Type) -> DecodingError {
            .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "the column holds \(value)"))
        }

        func decodeNil() -> Bool { value == .null }
        func decode(_ type: Bool.Type) throws -> Bool { try scalar(type) }
        func decode(_ type: String.Type) throws -> String { try scalar(type) }
        func decode(_ type: Double.Type) throws -> Double { try scalar(type) }
        func decode(_ type: Float.Type) throws -> Float { Float(try scalar(Double.self)) }
        func decode(_ type: Int.Type) throws -> Int { try scalar(type) }
        func decode(_ type: Int64.Type) throws -> Int64 { try scalar(type) }

        func scalar<T: SQLValueConvertible>(_ type: T.Type) throws -> T {
            guard let converted = T.fromSQL(value) else { throw mismatch(type) }
            return converted
        }

        /// A column holds one value: records whose columns hold JSON decode those by hand.
        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            throw mismatch([String: Any].self)
        }

        func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw mismatch([Any].self) }

        func singleValueContainer() throws -> any SingleValueDecodingContainer { self }
    }
}
