import Foundation
import OspreyCore

extension CronExpression {
    /// Parses a five-field cron expression or one of the `@yearly`...`@hourly` macros.
    ///
    /// Throws a ``ScheduleError`` naming the offending field and value.
    public init(_ text: String) throws {
        let source = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !source.isEmpty else { throw ScheduleError.empty }
        let expanded: String
        if source.hasPrefix("@") {
            guard let expansion = Self.macros[source.lowercased()] else { throw ScheduleError.unknownMacro(source) }
            expanded = expansion
        } else {
            expanded = source
        }
        let fields = expanded.split(whereSeparator: \.isWhitespace)
        guard fields.count == 5 else { throw ScheduleError.wrongFieldCount(fields.count) }

        var daysOfWeek = try Self.parse(fields[4], as: .dayOfWeek)
        if daysOfWeek.contains(7) {
            daysOfWeek.remove(7)
            daysOfWeek.insert(0)
        }
        self.init(
            source: source,
            minutes: try Self.parse(fields[0], as: .minute),
            hours: try Self.parse(fields[1], as: .hour),
            daysOfMonth: try Self.parse(fields[2], as: .dayOfMonth),
            months: try Self.parse(fields[3], as: .month),
            daysOfWeek: daysOfWeek,
            dayOfMonthIsWildcard: fields[2].hasPrefix("*"),
            dayOfWeekIsWildcard: fields[4].hasPrefix("*")
        )
        // With the OR rule every week has a matching day; with the AND rule the days of the month must exist in
        // some allowed month (a leap February counts), and then each falls on every weekday within 400 years.
        if dayOfMonthIsWildcard || dayOfWeekIsWildcard {
            let someDayExists = months.values.contains { month in
                daysOfMonth.values.contains { $0 <= CivilDate.daysInMonth(month, of: 2000) }
            }
            guard someDayExists else { throw ScheduleError.neverFires(source) }
        }
    }

    private static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    ]

    /// Parses one field: a comma-separated list of `*`, values and ranges, each with an optional `/step`.
    private static func parse(_ text: Substring, as field: Field) throws -> ValueSet {
        var set = ValueSet()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            let base = parts[0]
            var step = 1
            if parts.count == 2 {
                guard let value = number(parts[1]) else {
                    throw ScheduleError.invalidStep(field: field, text: String(parts[1]))
                }
                guard field.stepRange.contains(value) else {
                    throw ScheduleError.stepOutOfRange(field: field, step: value, range: field.stepRange)
                }
                step = value
            }
            let lower: Int
            let upper: Int
            if base == "*" {
                lower = field.wildcardRange.lowerBound
                upper = field.wildcardRange.upperBound
            } else if let dash = base.firstIndex(of: "-") {
                lower = try value(base[..<dash], in: item, as: field)
                upper = try value(base[base.index(after: dash)...], in: item, as: field)
                guard lower <= upper else { throw ScheduleError.reversedRange(field: field, text: String(base)) }
            } else {
                lower = try value(base, in: item, as: field)
                // `5/20` runs from 5 to the end of the field.
                upper = parts.count == 2 ? field.wildcardRange.upperBound : lower
            }
            for value in stride(from: lower, through: upper, by: step) {
                set.insert(value)
            }
        }
        return set
    }

    /// Parses a number or a name of `field`, checking its range; errors quote `item` when the value is missing.
    private static func value(_ text: Substring, in item: Substring, as field: Field) throws -> Int {
        if let name = field.names.firstIndex(of: text.lowercased()) {
            return name + field.range.lowerBound
        }
        guard let value = number(text) else {
            throw ScheduleError.invalidValue(field: field, text: String(text.isEmpty ? item : text))
        }
        guard field.range.contains(value) else {
            throw ScheduleError.valueOutOfRange(field: field, value: value, range: field.range)
        }
        return value
    }

    /// A decimal number of ASCII digits only, so `+5`, `-5` and `٣` are rejected.
    private static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 9, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }
}

extension CronExpression.Field {
    /// The values the field accepts; day-of-week accepts 7 as a second name for Sunday.
    var range: ClosedRange<Int> {
        switch self {
        case .minute: 0...59
        case .hour: 0...23
        case .dayOfMonth: 1...31
        case .month: 1...12
        case .dayOfWeek: 0...7
        }
    }

    /// The values `*` stands for.
    var wildcardRange: ClosedRange<Int> {
        self == .dayOfWeek ? 0...6 : range
    }

    /// The steps that make sense: from 1 up to the number of values `*` stands for.
    var stepRange: ClosedRange<Int> {
        1...wildcardRange.count
    }

    /// Lowercase names of the field's values, starting at the lowest value.
    var names: [String] {
        switch self {
        case .month: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        case .dayOfWeek: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
        case .minute, .hour, .dayOfMonth: []
        }
    }

    /// What a value of the field should look like, for error messages.
    var expectedValue: String {
        switch self {
        case .month: "a number or a month name (jan-dec)"
        case .dayOfWeek: "a number or a day name (sun-sat)"
        case .minute, .hour, .dayOfMonth: "a number"
        }
    }
}
