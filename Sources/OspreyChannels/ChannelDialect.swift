import Foundation

/// How a platform renders text, and how long one message may be.
///
/// Osprey shows an agent's answer as written: every character a platform's markup would interpret is escaped, so
/// an answer (or text a stranger got the agent to repeat) can never turn into formatting, links or mentions.
public enum ChannelDialect: Sendable {
    /// Telegram's MarkdownV2; 4,096 characters after parsing.
    case telegram
    /// Discord's markdown; 2,000 characters of content.
    case discord
    /// Matrix: a plain `body` and an HTML `formatted_body`; servers take events up to 65,536 bytes, so answers are
    /// cut at 16,000 characters to leave room for both forms.
    case matrix

    /// The most characters one message may hold, measured after ``escape(_:)``.
    public var limit: Int {
        switch self {
        case .telegram: 4096
        case .discord: 2000
        case .matrix: 16_000
        }
    }

    /// `text` escaped for the platform's markup.
    public func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for character in text { out += escape(character) }
        return out
    }

    func escape(_ character: Character) -> String {
        switch self {
        case .telegram:
            // https://core.telegram.org/bots/api#markdownv2-style: these must be escaped anywhere in the text.
            return "_*[]()~`>#+-=|{}.!\\".contains(character) ? "\\\(character)" : String(character)
        case .discord:
            return "\\*_~`|>#-[]()<@:".contains(character) ? "\\\(character)" : String(character)
        case .matrix:
            switch character {
            case "&": return "&amp;"
            case "<": return "&lt;"
            case ">": return "&gt;"
            case "\"": return "&quot;"
            case "'": return "&#39;"
            case "\n": return "<br>"
            default: return String(character)
            }
        }
    }

    /// The length the platform counts: Telegram counts after parsing (the escapes do not count), Discord counts the
    /// content as sent, Matrix the larger of both forms.
    func measure(_ character: Character) -> Int {
        switch self {
        case .telegram: 1
        case .discord, .matrix: escape(character).count
        }
    }

    /// The first of ``chunks(of:)``, reading no more of `text` than one message can hold (every character counts at
    /// least one), so a long streamed answer is not measured whole at every edit.
    public func firstChunk(of text: String) -> String { chunks(of: String(text.prefix(limit + 1)))[0] }

    /// `text` cut into pieces that each fit one message, at a paragraph, line or space where one is in the last
    /// half of a piece, else mid-word. An empty text is one empty piece.
    public func chunks(of text: String) -> [String] {
        var pieces: [String] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            var size = 0
            var end = rest.startIndex
            while end < rest.endIndex {
                let next = size + measure(rest[end])
                if next > limit { break }
                size = next
                end = rest.index(after: end)
            }
            if end == rest.endIndex {
                pieces.append(String(rest))
                break
            }
            let head = rest[rest.startIndex..<end]
            let half = rest.index(rest.startIndex, offsetBy: head.count / 2)
            var cut = end
            for separator in ["\n\n", "\n", " "] {
                if let found = head.range(of: separator, options: .backwards), found.lowerBound >= half {
                    cut = found.upperBound
                    break
                }
            }
            pieces.append(String(rest[rest.startIndex..<cut]))
            rest = rest[cut...]
        }
        return pieces.isEmpty ? [""] : pieces
    }
}
