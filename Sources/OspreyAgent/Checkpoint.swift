import Foundation
public import OspreyCore

/// What compacted messages did, extracted without a model, and carried forward from one compaction to the next:
/// the user's requests, the files the tools touched, the commands run, and how many tool calls failed.
///
/// Its text is deterministic (fixed sections, one item a line, oldest first) and parses back, so each
/// compaction starts from the previous checkpoint and adds what the newly compacted messages did: nothing
/// a model summary forgets is lost. Each list keeps its newest ``limit`` items and counts the ones it dropped.
public struct Checkpoint: Hashable, Sendable {
    /// How many messages the checkpoint covers, over every compaction so far.
    public var messages = 0
    public var requests = Section()
    /// `tool path`, each once, in the order first touched.
    public var files = Section()
    public var commands = Section()
    public var failures = 0

    /// Most items a list keeps.
    public static let limit = 40
    static let header = "Checkpoint of "

    /// One list of the checkpoint: its newest items and how many older ones were dropped.
    public struct Section: Hashable, Sendable {
        public var items: [String] = []
        public var dropped = 0

        mutating func append(_ item: String, unique: Bool = false) {
            if unique, items.contains(item) { return }
            items.append(item)
            if items.count > Checkpoint.limit {
                dropped += items.count - Checkpoint.limit
                items.removeFirst(items.count - Checkpoint.limit)
            }
        }
    }

    public init() {}

    /// The checkpoint of `messages` alone.
    public init(_ messages: [Message]) {
        self.messages = messages.count
        for message in messages {
            for part in message.content {
                switch part {
                case .text(let text) where message.role == .user:
                    requests.append("\"" + Self.line(String(text.split(separator: "\n").first ?? "")) + "\"")
                case .toolCall(let call):
                    let arguments = try? JSONValue.parse(call.arguments)
                    if let path = arguments?["path"]?.stringValue {
                        files.append(Self.line("\(call.name) \(path)"), unique: true)
                    }
                    if let command = arguments?["command"]?.stringValue { commands.append(Self.line(command)) }
                case .toolResult(let result) where result.isError:
                    failures += 1
                default:
                    break
                }
            }
        }
    }

    /// This checkpoint followed by `later`: counts add up, lists continue (files stay unique).
    public func merging(_ later: Checkpoint) -> Checkpoint {
        var merged = self
        merged.messages += later.messages
        merged.failures += later.failures
        merged.requests.dropped += later.requests.dropped
        merged.commands.dropped += later.commands.dropped
        merged.files.dropped += later.files.dropped
        for item in later.requests.items { merged.requests.append(item) }
        for item in later.files.items { merged.files.append(item, unique: true) }
        for item in later.commands.items { merged.commands.append(item) }
        return merged
    }

    /// The deterministic text form, as stored in the compaction summary and the `session.compacted` event.
    public var text: String {
        var lines = ["\(Self.header)\(messages) earlier messages:"]
        for (title, section) in [("User requests", requests), ("Files touched", files), ("Commands run", commands)]
        where !section.items.isEmpty || section.dropped > 0 {
            lines.append(section.dropped > 0 ? "\(title) (\(section.dropped) older not listed):" : "\(title):")
            lines += section.items.map { "- " + $0 }
        }
        if failures > 0 { lines.append("Tool calls that failed: \(failures)") }
        return lines.joined(separator: "\n")
    }

    /// Reads the checkpoint at the end of a compaction summary (the last one: a model-written summary before it
    /// may say anything); nil when there is none.
    public init?(parsing summary: String) {
        let start: String.Index
        if let range = summary.range(of: "\n\n" + Self.header, options: .backwards) {
            start = summary.index(range.lowerBound, offsetBy: 2)
        } else if summary.hasPrefix(Self.header) {
            start = summary.startIndex
        } else {
            return nil
        }
        var lines = summary[start...].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = lines.removeFirst().dropFirst(Self.header.count)
        guard let count = Int(first.prefix { $0.isNumber }), first.hasSuffix(" earlier messages:") else { return nil }
        messages = count
        var current: WritableKeyPath<Checkpoint, Section>?
        for line in lines {
            if line.hasPrefix("- "), let current {
                self[keyPath: current].items.append(String(line.dropFirst(2)))
            } else if line.hasPrefix("Tool calls that failed: "), let number = Int(line.dropFirst(24)) {
                failures = number
                current = nil
            } else if let (path, dropped) = Self.sectionHeader(line) {
                current = path
                self[keyPath: path].dropped = dropped
            } else {
                return nil
            }
        }
    }

    static func sectionHeader(_ line: String) -> (WritableKeyPath<Checkpoint, Section>, Int)? {
        let sections: [(String, WritableKeyPath<Checkpoint, Section>)] = [
            ("User requests", \.requests), ("Files touched", \.files), ("Commands run", \.commands),
        ]
        for (title, path) in sections where line.hasPrefix(title) {
            let rest = line.dropFirst(title.count)
            if rest == ":" { return (path, 0) }
            if rest.hasPrefix(" ("), rest.hasSuffix(" older not listed):"),
                let dropped = Int(rest.dropFirst(2).prefix { $0.isNumber })
            {
                return (path, dropped)
            }
        }
        return nil
    }

    /// One line of at most 160 characters: an item never spans lines, so the text parses back.
    static func line(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 }.prefix(160))
    }
}
