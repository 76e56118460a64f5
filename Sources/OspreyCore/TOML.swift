import Foundation

/// Why a TOML document could not be read, with the line it failed on.
public struct TOMLError: Error, Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var reason: String
    public var description: String { "line \(line): \(reason)" }
}

/// A TOML 1.0 reader for configuration files: tables, arrays of tables, dotted keys, strings of all four
/// kinds, integers, floats, booleans, arrays and inline tables. Dates are kept as strings.
///
/// The result is a `JSONValue` object so the config model can decode it with precise error messages.
public enum TOML {
    public static func parse(_ text: String) throws -> JSONValue {
        var reader = TOMLReader(bytes: Array(text.utf8))
        return try reader.document()
    }
}

private struct TOMLReader {
    let bytes: [UInt8]
    var index = 0
    var line = 1
    var root: [String: JSONValue] = [:]
    /// Tables declared with a header, to refuse a second `[a]`.
    var declared: Set<[String]> = []

    init(bytes: [UInt8]) { self.bytes = bytes }

    func fail(_ reason: String) -> TOMLError { TOMLError(line: line, reason: reason) }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipSpaces() {
        while let byte = current, byte == 0x20 || byte == 0x09 { index += 1 }
    }

    mutating func skipComment() {
        if current == UInt8(ascii: "#") {
            while let byte = current, byte != 0x0A { index += 1 }
        }
    }

    /// Skips blank lines, comments and newlines (inside arrays).
    mutating func skipTrivia() {
        while true {
            skipSpaces()
            skipComment()
            if current == 0x0A {
                index += 1
                line += 1
            } else if current == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A {
                index += 2
                line += 1
            } else {
                return
            }
        }
    }

    mutating func endOfLine() throws {
        skipSpaces()
        skipComment()
        if current == 0x0D { index += 1 }
        guard current == nil || current == 0x0A else { throw fail("expected end of line") }
        if current == 0x0A {
            index += 1
            line += 1
        }
    }

    mutating func document() throws -> JSONValue {
        var tablePath: [String] = []
        while true {
            skipTrivia()
            guard let byte = current else { break }
            if byte == UInt8(ascii: "[") {
                index += 1
                let isArray = current == UInt8(ascii: "[")
                if isArray { index += 1 }
                skipSpaces()
                let path = try key()
                skipSpaces()
                guard current == UInt8(ascii: "]") else { throw fail("expected ']'") }
                index += 1
                if isArray {
                    guard current == UInt8(ascii: "]") else { throw fail("expected ']]'") }
                    index += 1
                    try appendTable(at: path)
                    tablePath = path + ["#last"]
                } else {
                    guard declared.insert(path).inserted else {
                        throw fail("table [\(path.joined(separator: "."))] defined twice")
                    }
                    try ensureTable(at: path)
                    tablePath = path
                }
                try endOfLine()
            } else {
                let path = try key()
                skipSpaces()
                guard current == UInt8(ascii: "=") else { throw fail("expected '=' after key") }
                index += 1
                skipSpaces()
                let value = try self.value()
                try assign(value, at: tablePath + path)
                try endOfLine()
            }
        }
        return .object(root)
    }

    mutating func key() throws -> [String] {
        var parts: [String] = []
        while true {
            skipSpaces()
            guard let byte = current else { throw fail("expected a key") }
            if byte == UInt8(ascii: "\"") {
                parts.append(try basicString())
            } else if byte == UInt8(ascii: "'") {
                parts.append(try literalString())
            } else {
                let start = index
                while let byte = current, isBareKey(byte) { index += 1 }
                guard index > start else { throw fail("expected a key") }
                parts.append(String(decoding: bytes[start..<index], as: UTF8.self))
            }
            skipSpaces()
            if current == UInt8(ascii: ".") {
                index += 1
            } else {
                return parts
            }
        }
    }

    func isBareKey(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "-")
    }

    // MARK: - Placing values

    mutating func ensureTable(at path: [String]) throws {
        root = try Self.update(root, path: path[...], line: line) { existing in
            switch existing {
            case nil: return .object([:])
            case .object?: return existing!  // checked non-nil by the case
            default: throw TOMLError(line: line, reason: "'\(path.joined(separator: "."))' is not a table")
            }
        }
    }

    mutating func appendTable(at path: [String]) throws {
        root = try Self.update(root, path: path[...], line: line) { existing in
            switch existing {
            case nil: return .array([.object([:])])
            case .array(let tables)?: return .array(tables + [.object([:])])
            default: throw TOMLError(line: line, reason: "'\(path.joined(separator: "."))' is not an array of tables")
            }
        }
    }

    mutating func assign(_ value: JSONValue, at path: [String]) throws {
        root = try Self.update(root, path: path[...], line: line) { existing in
            guard existing == nil else {
                throw TOMLError(
                    line: line,
                    reason: "key '\(path.filter { $0 != "#last" }.joined(separator: "."))' defined twice"
                )
            }
            return value
        }
    }

    /// Rewrites the value at `path`, creating intermediate tables; `#last` steps into an array's last table.
    static func update(
        _ table: [String: JSONValue],
        path: ArraySlice<String>,
        line: Int,
        _ change: (JSONValue?) throws -> JSONValue
    ) throws -> [String: JSONValue] {
        var table = table
        let head = path.first!  // callers never pass an empty path: keys have at least one part
        let rest = path.dropFirst()
        if rest.isEmpty {
            table[head] = try change(table[head])
            return table
        }
        if rest.first == "#last" {
            guard case .array(var tables)? = table[head], case .object(let last)? = tables.last else {
                throw TOMLError(line: line, reason: "'\(head)' is not an array of tables")
            }
            let inner = rest.dropFirst()
            if inner.isEmpty { return table }
            tables[tables.count - 1] = .object(try update(last, path: inner, line: line, change))
            table[head] = .array(tables)
            return table
        }
        switch table[head] {
        case nil:
            table[head] = .object(try update([:], path: rest, line: line, change))
        case .object(let inner)?:
            table[head] = .object(try update(inner, path: rest, line: line, change))
        case .array(var tables)? where tables.last?.objectValue != nil:
            tables[tables.count - 1] = .object(try update(tables.last!.objectValue!, path: rest, line: line, change))
            table[head] = .array(tables)
        default:
            throw TOMLError(line: line, reason: "'\(head)' is not a table")
        }
        return table
    }

    // MARK: - Values

    mutating func value() throws -> JSONValue {
        guard let byte = current else { throw fail("expected a value") }
        switch byte {
        case UInt8(ascii: "\""): return .string(try basicString())
        case UInt8(ascii: "'"): return .string(try literalString())
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "{"): return try inlineTable()
        default: return try scalar()
        }
    }

    mutating func array() throws -> JSONValue {
        index += 1
        var elements: [JSONValue] = []
        while true {
            skipTrivia()
            if current == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            elements.append(try value())
            skipTrivia()
            if current == UInt8(ascii: ",") {
                index += 1
            } else if current == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            } else {
                throw fail("expected ',' or ']' in array")
            }
        }
    }

    mutating func inlineTable() throws -> JSONValue {
        index += 1
        var table: [String: JSONValue] = [:]
        skipSpaces()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(table)
        }
        while true {
            skipSpaces()
            let path = try key()
            skipSpaces()
            guard current == UInt8(ascii: "=") else { throw fail("expected '=' in inline table") }
            index += 1
            skipSpaces()
            let value = try self.value()
            let line = self.line
            table = try Self.update(table, path: path[...], line: line) { existing in
                guard existing == nil else { throw TOMLError(line: line, reason: "key defined twice in inline table") }
                return value
            }
            skipSpaces()
            if current == UInt8(ascii: ",") {
                index += 1
            } else if current == UInt8(ascii: "}") {
                index += 1
                return .object(table)
            } else {
                throw fail("expected ',' or '}' in inline table")
            }
        }
    }

    mutating func scalar() throws -> JSONValue {
        let start = index
        while let byte = current,
            ![
                0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"),
                UInt8(ascii: "#"),
            ].contains(byte)
        {
            index += 1
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        switch text {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "inf", "+inf", "-inf", "nan", "+nan", "-nan": throw fail("infinite or NaN numbers are not supported")
        case "": throw fail("expected a value")
        default: break
        }
        let digits = text.replacingOccurrences(of: "_", with: "")
        if digits.hasPrefix("0x"), let value = Int(digits.dropFirst(2), radix: 16) { return .int(value) }
        if digits.hasPrefix("0o"), let value = Int(digits.dropFirst(2), radix: 8) { return .int(value) }
        if digits.hasPrefix("0b"), let value = Int(digits.dropFirst(2), radix: 2) { return .int(value) }
        if let value = Int(digits) { return .int(value) }
        if digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let value = Double(digits) {
            return .double(value)
        }
        // Offset date-times and local dates stay text; the config model says which keys may hold them.
        if text.first?.isNumber == true, text.contains("-") || text.contains(":") { return .string(text) }
        throw fail("invalid value '\(text)' (strings need quotes)")
    }

    mutating func basicString() throws -> String {
        if bytes[index...].starts(with: Array("\"\"\"".utf8)) { return try multilineBasicString() }
        index += 1
        var output: [UInt8] = []
        while true {
            guard let byte = current, byte != 0x0A else { throw fail("unterminated string") }
            index += 1
            if byte == UInt8(ascii: "\"") { return String(decoding: output, as: UTF8.self) }
            if byte == UInt8(ascii: "\\") {
                try escape(into: &output)
            } else {
                output.append(byte)
            }
        }
    }

    mutating func multilineBasicString() throws -> String {
        index += 3
        if current == 0x0A {
            index += 1
            line += 1
        }
        var output: [UInt8] = []
        while true {
            guard let byte = current else { throw fail("unterminated multi-line string") }
            if bytes[index...].starts(with: Array("\"\"\"".utf8)) {
                index += 3
                return String(decoding: output, as: UTF8.self)
            }
            index += 1
            if byte == 0x0A { line += 1 }
            if byte == UInt8(ascii: "\\") {
                // A backslash at the end of a line trims the newline and leading whitespace that follows.
                var probe = index
                while probe < bytes.count, bytes[probe] == 0x20 || bytes[probe] == 0x09 { probe += 1 }
                if probe < bytes.count, bytes[probe] == 0x0A || bytes[probe] == 0x0D {
                    index = probe
                    while let next = current, [0x20, 0x09, 0x0A, 0x0D].contains(next) {
                        if next == 0x0A { line += 1 }
                        index += 1
                    }
                } else {
                    try escape(into: &output)
                }
            } else {
                output.append(byte)
            }
        }
    }

    mutating func escape(into output: inout [UInt8]) throws {
        guard let code = current else { throw fail("unterminated escape") }
        index += 1
        switch code {
        case UInt8(ascii: "n"): output.append(0x0A)
        case UInt8(ascii: "t"): output.append(0x09)
        case UInt8(ascii: "r"): output.append(0x0D)
        case UInt8(ascii: "b"): output.append(0x08)
        case UInt8(ascii: "f"): output.append(0x0C)
        case UInt8(ascii: "\""): output.append(0x22)
        case UInt8(ascii: "\\"): output.append(0x5C)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let length = code == UInt8(ascii: "u") ? 4 : 8
            guard index + length <= bytes.count,
                let value = UInt32(String(decoding: bytes[index..<index + length], as: UTF8.self), radix: 16),
                let scalar = Unicode.Scalar(value)
            else { throw fail("invalid unicode escape") }
            index += length
            output.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            throw fail("invalid escape '\\\(Character(Unicode.Scalar(code)))'")
        }
    }

    mutating func literalString() throws -> String {
        if bytes[index...].starts(with: Array("'''".utf8)) {
            index += 3
            if current == 0x0A {
                index += 1
                line += 1
            }
            let start = index
            while index < bytes.count, !bytes[index...].starts(with: Array("'''".utf8)) {
                if bytes[index] == 0x0A { line += 1 }
                index += 1
            }
            guard index < bytes.count else { throw fail("unterminated multi-line literal string") }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            index += 3
            return text
        }
        index += 1
        let start = index
        while let byte = current, byte != UInt8(ascii: "'") {
            guard byte != 0x0A else { throw fail("unterminated literal string") }
            index += 1
        }
        guard current != nil else { throw fail("unterminated literal string") }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        index += 1
        return text
    }
}
