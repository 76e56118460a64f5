public import Foundation
public import OspreyCore

/// One value in a row or a statement's arguments, in the types both engines store: SQLite's storage classes, which
/// the PostgreSQL schema maps to `BIGINT`, `DOUBLE PRECISION`, `TEXT` and `BYTEA`. Dates are text
/// (``WireFormat/timestamp(_:)``) and booleans 0 or 1 on both.
public enum SQLValue: Hashable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
}

/// A Swift value that a statement can take as an argument and a row can give back.
public protocol SQLValueConvertible {
    var sqlValue: SQLValue { get }
    /// The value, or nil when `value` is not one (a wrong type, or NULL for a non-optional).
    static func fromSQL(_ value: SQLValue) -> Self?
}

extension String: SQLValueConvertible {
    public var sqlValue: SQLValue { .text(self) }
    public static func fromSQL(_ value: SQLValue) -> String? {
        switch value {
        case .text(let text): text
        case .integer(let number): String(number)
        case .real(let number): String(number)
        case .blob(let data): String(data: data, encoding: .utf8)
        case .null: nil
        }
    }
}

extension Int64: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self) }
    public static func fromSQL(_ value: SQLValue) -> Int64? {
        switch value {
        case .integer(let number): number
        case .real(let number): Int64(exactly: number.rounded(.towardZero))
        case .text(let text): Int64(text)
        default: nil
        }
    }
}

extension Int: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
    public static func fromSQL(_ value: SQLValue) -> Int? { Int64.fromSQL(value).map { Int($0) } }
}

extension Double: SQLValueConvertible {
    public var sqlValue: SQLValue { .real(self) }
    public static func fromSQL(_ value: SQLValue) -> Double? {
        switch value {
        case .real(let number): number
        case .integer(let number): Double(number)
        case .text(let text): Double(text)
        default: nil
        }
    }
}

extension Bool: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    public static func fromSQL(_ value: SQLValue) -> Bool? { Int64.fromSQL(value).map { $0 != 0 } }
}

extension Data: SQLValueConvertible {
    public var sqlValue: SQLValue { .blob(self) }
    public static func fromSQL(_ value: SQLValue) -> Data? {
        switch value {
        case .blob(let data): data
        case .text(let text): Data(text.utf8)
        default: nil
        }
    }
}

extension Optional: SQLValueConvertible where Wrapped: SQLValueConvertible {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
    /// NULL is `.some(nil)`: a present value of the optional type.
    public static func fromSQL(_ value: SQLValue) -> Wrapped?? {
        if case .null = value { return .some(nil) }
        return Wrapped.fromSQL(value).map { .some($0) }
    }
}

extension Identifier: SQLValueConvertible {
    public var sqlValue: SQLValue { .text(rawValue) }
    public static func fromSQL(_ value: SQLValue) -> Identifier? { String.fromSQL(value).map(Self.init(rawValue:)) }
}

/// Enums stored as their raw text (statuses, scopes, roles) convert through their raw value.
extension SQLValueConvertible where Self: RawRepresentable, RawValue == String {
    public var sqlValue: SQLValue { .text(rawValue) }
    public static func fromSQL(_ value: SQLValue) -> Self? { String.fromSQL(value).flatMap(Self.init(rawValue:)) }
}

/// A statement's arguments, written as an array literal of values and optionals: `[id, name, nil]`.
public struct SQLArguments: ExpressibleByArrayLiteral, Sendable, Hashable {
    public var values: [SQLValue]

    public init(_ values: [SQLValue] = []) { self.values = values }

    public init(arrayLiteral elements: (any SQLValueConvertible)?...) {
        values = elements.map { $0?.sqlValue ?? .null }
    }

    public static func += (lhs: inout SQLArguments, rhs: SQLArguments) { lhs.values += rhs.values }
}
