import Crypto
public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why a secret could not be stored or read.
public struct SecretError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Named secrets, encrypted at rest with AES-GCM under a key file (0600) in the home's `secrets/` directory.
///
/// Values are only ever decrypted into memory to be injected at a boundary (a provider's headers); the gateway
/// also hands them to the ``Redactor`` so that none can reach an event, a log or a tool's output.
public struct SecretStore: Sendable {
    let directory: URL

    public init(home: Home) { directory = home.secretsDirectory }

    var keyFile: URL { directory.appendingPathComponent("master.key") }
    var storeFile: URL { directory.appendingPathComponent("secrets.json") }

    /// Names are letters, digits, `_`, `-` and `.`: they appear in config as `${secret:NAME}`.
    public static func validate(name: String) throws {
        guard name.range(of: #"^[A-Za-z0-9_.-]{1,64}$"#, options: .regularExpression) != nil else {
            throw SecretError("secret names are 1-64 letters, digits, '_', '-' or '.'")
        }
    }

    func key() throws -> SymmetricKey {
        try FileManager.default.createDirectory(
            at: directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        try Home.createFile(at: keyFile, contents: Home.randomHex(bytes: 32) + "\n", mode: 0o600)
        guard let text = try? String(contentsOf: keyFile, encoding: .utf8),
            let bytes = [UInt8](hexString: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32
        else { throw SecretError("the secret key \(keyFile.path) is unreadable or malformed") }
        return SymmetricKey(data: bytes)
    }

    /// name → base64 of AES-GCM's combined nonce + ciphertext + tag.
    func sealed() throws -> [String: String] {
        guard FileManager.default.fileExists(atPath: storeFile.path) else { return [:] }
        let data = try Data(contentsOf: storeFile)
        let parsed: JSONValue
        do { parsed = try JSONValue.parse(Array(data)) } catch {
            throw SecretError("\(storeFile.path) is malformed: \(error)")
        }
        guard let table = parsed.objectValue else { throw SecretError("\(storeFile.path) is malformed") }
        return table.compactMapValues(\.stringValue)
    }

    func write(_ table: [String: String]) throws {
        let text = JSONValue.object(table.mapValues(JSONValue.string)).canonicalJSON
        try DurableFile.replace(storeFile.path, bytes: Array(text.utf8), mode: 0o600)
    }

    /// Stores (or replaces) a secret.
    public func set(_ name: String, value: String) throws {
        try Self.validate(name: name)
        guard !value.isEmpty else { throw SecretError("a secret's value must not be empty") }
        let box = try AES.GCM.seal(Data(value.utf8), using: try key())
        guard let combined = box.combined else { throw SecretError("encryption failed") }
        var table = try sealed()
        table[name] = combined.base64EncodedString()
        try write(table)
    }

    /// The names of the stored secrets, sorted (never their values).
    public func names() throws -> [String] { try sealed().keys.sorted() }

    /// Removes a secret; false when there was none by that name.
    @discardableResult
    public func remove(_ name: String) throws -> Bool {
        var table = try sealed()
        guard table.removeValue(forKey: name) != nil else { return false }
        try write(table)
        return true
    }

    /// One secret's value.
    public func value(_ name: String) throws -> String {
        guard let encoded = try sealed()[name] else {
            throw SecretError("no secret named '\(name)' (add it with `osprey secrets set \(name)`)")
        }
        guard let data = Data(base64Encoded: encoded) else { throw SecretError("secret '\(name)' is corrupted") }
        do {
            let opened = try AES.GCM.open(try AES.GCM.SealedBox(combined: data), using: try key())
            return String(decoding: opened, as: UTF8.self)
        } catch {
            throw SecretError("secret '\(name)' cannot be decrypted with \(keyFile.path) (wrong key or tampered store)")
        }
    }

    /// Every secret's value, for the redactor.
    public func allValues() throws -> [String: String] {
        var values: [String: String] = [:]
        for name in try names() { values[name] = try value(name) }
        return values
    }
}

/// Removes secrets from text before it is stored or shown: every known secret value, and the shapes of common
/// API keys and tokens even when they are not known.
public struct Redactor: Sendable {
    let known: [(name: String, value: String)]

    public init(secrets: [String: String] = [:]) {
        // Longest first, so a secret that contains another is replaced whole; very short values would erase noise.
        known = secrets.filter { $0.value.count >= 6 }.map { ($0.key, $0.value) }.sorted {
            $0.value.count > $1.value.count
        }
    }

    static let patterns: [NSRegularExpression] = [
        #"sk-ant-[A-Za-z0-9_\-]{16,}"#, #"sk-(proj-)?[A-Za-z0-9_\-]{20,}"#, #"AKIA[0-9A-Z]{16}"#,
        #"gh[pousr]_[A-Za-z0-9]{30,}"#,
        #"xox[abpr]-[A-Za-z0-9\-]{10,}"#, #"osp_[0-9a-f]{64}"#, #"AIza[0-9A-Za-z_\-]{35}"#,
        #"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"#,
    ].compactMap { try? NSRegularExpression(pattern: $0) }

    /// Fixed text every pattern starts with, as bytes.
    static let markers: [[UInt8]] = [
        "sk-", "AKIA", "gho_", "ghp_", "ghu_", "ghs_", "ghr_", "xox", "osp_", "AIza", "-----BEGIN",
    ]
    .map { Array($0.utf8) }

    /// One pass over the bytes: true when any pattern's fixed prefix occurs.
    static func mayContainKeyShape(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count >= 3 else { return false }
        for start in 0..<(bytes.count - 2) {
            let first = bytes[start]
            guard
                first == UInt8(ascii: "s") || first == UInt8(ascii: "A") || first == UInt8(ascii: "g")
                    || first == UInt8(ascii: "x") || first == UInt8(ascii: "o") || first == UInt8(ascii: "-")
            else { continue }
            for marker in markers where marker[0] == first && start + marker.count <= bytes.count {
                if bytes[start..<start + marker.count].elementsEqual(marker) { return true }
            }
        }
        return false
    }

    /// The text with secrets replaced by `[REDACTED:NAME]` (known) or `[REDACTED]` (pattern).
    public func redact(_ text: String) -> String {
        var output = text
        for (name, value) in known where output.contains(value) {
            output = output.replacingOccurrences(of: value, with: "[REDACTED:\(name)]")
        }
        // The patterns are costly; most text has none of their fixed prefixes and skips them all.
        guard Self.mayContainKeyShape(output) else { return output }
        for pattern in Self.patterns {
            let range = NSRange(output.startIndex..., in: output)
            if pattern.firstMatch(in: output, range: range) != nil {
                output = pattern.stringByReplacingMatches(in: output, range: range, withTemplate: "[REDACTED]")
            }
        }
        return output
    }

    /// Text about to leave the machine (a URL, a request body) with every known secret value replaced, whether it
    /// appears as is or percent-encoded; `urlSafe` uses a placeholder that keeps a URL valid.
    public func redactOutgoing(_ text: String, urlSafe: Bool = false) -> String {
        var output = text
        for (name, value) in known {
            let forms = [value, value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value]
            for form in Set(forms) where output.contains(form) {
                output = output.replacingOccurrences(
                    of: form,
                    with: urlSafe ? "REDACTED-\(name)" : "[REDACTED:\(name)]"
                )
            }
        }
        if !urlSafe { return redact(output) }
        if let decoded = output.removingPercentEncoding, decoded != output, redactOutgoing(decoded) != decoded {
            // A secret spelled with other escapes: drop the whole query rather than let it through.
            return output.components(separatedBy: "?").first ?? output
        }
        return output
    }

    /// A message with every text, tool argument and tool output redacted.
    public func redact(_ message: Message) -> Message {
        Message(
            role: message.role,
            content: message.content.map { part in
                switch part {
                case .text(let text): .text(redact(text))
                case .toolCall(let call):
                    .toolCall(ToolCall(id: call.id, name: call.name, arguments: redact(call.arguments)))
                case .toolResult(let result):
                    .toolResult(
                        ToolResult(
                            callID: result.callID,
                            output: redact(result.output),
                            isError: result.isError,
                            untrusted: result.untrusted
                        )
                    )
                }
            }
        )
    }

    /// Every string in a JSON value redacted (keys included); the value itself when nothing needed it.
    public func redact(_ value: JSONValue) -> JSONValue {
        changed(value) ?? value
    }

    /// The redacted value, or nil when no string in it changed (so clean payloads are not rebuilt).
    func changed(_ value: JSONValue) -> JSONValue? {
        switch value {
        case .string(let text):
            let redacted = redact(text)
            return redacted == text ? nil : .string(redacted)
        case .array(let items):
            let updated = items.map(changed)
            guard updated.contains(where: { $0 != nil }) else { return nil }
            return .array(zip(items, updated).map { $1 ?? $0 })
        case .object(let members):
            var result: [String: JSONValue]?
            for (key, member) in members {
                let newKey = changed(.string(key))?.stringValue
                let newValue = changed(member)
                if newKey == nil && newValue == nil { continue }
                if result == nil { result = members }
                result?.removeValue(forKey: key)
                result?[newKey ?? key] = newValue ?? member
            }
            return result.map(JSONValue.object)
        default:
            return nil
        }
    }
}
