public import Foundation
import Logging
public import OspreyCore
import OspreySandbox
public import OspreyTools
import Synchronization
@_spi(Fuzzing) import WasmKit

/// The host side of a plugin's imports (module `osprey`), for one call: every file, URL, secret and key the plugin
/// asks for is checked against its manifest's ``PluginManifest/Capabilities`` and then goes through Osprey's own
/// machinery (the workspace jail, the SSRF guard and the agent's egress allowlist, the secret store). A request
/// outside the grants is denied, and the denial is a `policy.decision` event.
///
/// The ABI (all pointers and lengths are i32 offsets into the module's exported `memory`):
///
/// | import | answer |
/// |---|---|
/// | `log(ptr, len)` | — |
/// | `read_file(path, path_len, buf, cap) -> i32` | the file's bytes |
/// | `write_file(path, path_len, data, data_len) -> i32` | 0 |
/// | `http_fetch(request, request_len, buf, cap) -> i32` | JSON `{"status","url","content_type","body"}` for a JSON request `{"url","method","headers","body"}` |
/// | `kv_get(key, key_len, buf, cap) -> i32` | the value |
/// | `kv_set(key, key_len, value, value_len) -> i32` | 0 (an empty value deletes the key) |
/// | `secret(name, name_len, buf, cap) -> i32` | the secret's value |
/// | `result(buf, cap) -> i32` | the last answer or error message, again |
///
/// A call returns the answer's full length when it is ≥ 0, and writes the answer into `buf` if it fits in `cap`
/// bytes; if it did not fit, `result` copies it into a larger buffer. A negative return is an error: -1 denied,
/// -2 not found, -3 failed, -4 invalid arguments; `result` then gives its message.
public final class PluginHost: Sendable {
    /// The imports a module may name.
    public static let imports: Set<String> = [
        "log", "read_file", "write_file", "http_fetch", "kv_get", "kv_set", "secret", "result",
    ]

    enum Failure: Int32, Error {
        case denied = -1
        case notFound = -2
        case failed = -3
        case invalid = -4
    }

    /// The largest file, body or value that crosses the boundary.
    static let maxBytes = 1 << 20

    let plugin: String
    let tool: String
    let grants: PluginManifest.Capabilities
    let context: ToolContext?
    let secrets: (@Sendable (String) throws -> String)?
    let state: PluginState?
    let timeout: Duration
    private let pending = Mutex<[UInt8]>([])
    private let revealed = Mutex<[String: String]>([:])
    private let readTainted = Mutex(false)

    /// A host for one call of `tool`: `context` is the call's (nil grants nothing but `log`), `secrets` looks a
    /// secret's value up, `state` is the plugin's key-value store.
    public init(
        plugin: PluginManifest,
        tool: String,
        context: ToolContext?,
        secrets: (@Sendable (String) throws -> String)? = nil,
        state: PluginState? = nil
    ) {
        self.plugin = plugin.name
        self.tool = tool
        grants = plugin.capabilities
        self.context = context
        self.secrets = secrets
        self.state = state
        timeout = .seconds(min(30, plugin.wallSeconds))
    }

    /// The secrets the plugin was given during the call, to redact from its answer.
    public var redactor: Redactor { Redactor(secrets: revealed.withLock { $0 }) }

    /// Whether the plugin read a file a tainted run wrote (its answer is then untrusted).
    public var readUntrustedContent: Bool { readTainted.withLock { $0 } }

    static let logger = Logger(label: "osprey.plugins")

    /// The type of the import `name`: `log(ptr, len)`, `result(buf, cap) -> i32`, the others four i32 to an i32.
    static func signature(_ name: String) -> FunctionType {
        switch name {
        case "log": FunctionType(parameters: [.i32, .i32], results: [])
        case "result": FunctionType(parameters: [.i32, .i32], results: [.i32])
        default: FunctionType(parameters: [.i32, .i32, .i32, .i32], results: [.i32])
        }
    }

    /// Defines the `osprey` imports the module names, each reaching the host `current` gives at the time of the
    /// call (a reactor's instance outlives any one call).
    static func define(
        _ names: Set<String>,
        in imports: inout Imports,
        store: Store,
        current: @escaping @Sendable () -> PluginHost?
    ) {
        for name in names {
            let type = signature(name)
            let results = type.results
            imports.define(
                module: "osprey",
                name: name,
                Function(store: store, type: type) { caller, arguments in
                    guard let memory = caller.instance?.exports[memory: "memory"] else {
                        return results.isEmpty ? [] : [.i32(UInt32(bitPattern: Failure.invalid.rawValue))]
                    }
                    let words = arguments.map { Int($0.i32) }
                    guard let host = current() else {
                        return results.isEmpty ? [] : [.i32(UInt32(bitPattern: Failure.denied.rawValue))]
                    }
                    let code = host.serve(name, words, memory: memory)
                    return results.isEmpty ? [] : [.i32(UInt32(bitPattern: code))]
                }
            )
        }
    }

    /// One import call: its inputs read from memory, the work done, the answer placed (or kept for `result`).
    func serve(_ name: String, _ words: [Int], memory: Memory) -> Int32 {
        do {
            switch name {
            case "log":
                let text = String(decoding: try bytes(memory, words[0], min(words[1], 4096)), as: UTF8.self)
                Self.logger.info("plugin log", metadata: ["plugin": "\(plugin)", "message": "\(text)"])
                return 0
            case "result":
                let answer = pending.withLock { $0 }
                return try place(answer, memory, words[0], words[1])
            case "write_file", "kv_set":
                let key = try text(memory, words[0], words[1])
                let value = try bytes(memory, words[2], words[3])
                try name == "write_file" ? writeFile(key, value) : setValue(key, value)
                return keep([])
            default:
                let input = try text(memory, words[0], words[1])
                let answer: [UInt8]
                switch name {
                case "read_file": answer = try readFile(input)
                case "http_fetch": answer = try fetch(input)
                case "kv_get": answer = try value(input)
                default: answer = Array(try secret(input).utf8)
                }
                return try place(answer, memory, words[2], words[3])
            }
        } catch let failure as HostFailure {
            pending.withLock { $0 = Array(failure.message.utf8) }
            return failure.code.rawValue
        } catch {
            pending.withLock { $0 = Array("\(error)".utf8) }
            return Failure.failed.rawValue
        }
    }

    struct HostFailure: Error {
        var code: Failure
        var message: String
    }

    private func keep(_ answer: [UInt8]) -> Int32 {
        pending.withLock { $0 = answer }
        return Int32(answer.count)
    }

    /// Keeps `answer` and writes it at `pointer` if it fits in `capacity`; its full length either way.
    private func place(_ answer: [UInt8], _ memory: Memory, _ pointer: Int, _ capacity: Int) throws -> Int32 {
        _ = keep(answer)
        guard answer.count <= capacity, !answer.isEmpty else { return Int32(answer.count) }
        guard pointer >= 0, pointer + answer.count <= memory.byteCount else {
            throw HostFailure(code: .invalid, message: "the answer buffer lies outside the module's memory")
        }
        memory.withUnsafeMutableBufferPointer(offset: UInt(pointer), count: answer.count) { target in
            answer.withUnsafeBytes { target.copyMemory(from: $0) }
        }
        return Int32(answer.count)
    }

    private func bytes(_ memory: Memory, _ pointer: Int, _ count: Int) throws -> [UInt8] {
        guard pointer >= 0, count >= 0, count <= Self.maxBytes, pointer + count <= memory.byteCount else {
            throw HostFailure(code: .invalid, message: "an argument lies outside the module's memory or is too long")
        }
        guard count > 0 else { return [] }
        return memory.withUnsafeBufferPointer(offset: UInt(pointer), count: count) { Array($0) }
    }

    private func text(_ memory: Memory, _ pointer: Int, _ count: Int) throws -> String {
        guard let text = String(validating: try bytes(memory, pointer, count), as: UTF8.self) else {
            throw HostFailure(code: .invalid, message: "an argument is not UTF-8")
        }
        return text
    }

    // MARK: The imports

    /// A granted, jailed context for a capability, or a recorded denial.
    private func granted(_ capability: String, _ target: String, _ allowed: Bool) throws -> ToolContext {
        guard let context, allowed else {
            let reason =
                context == nil
                ? "this call has no context to reach anything through"
                : "plugin '\(plugin)' did not ask for \(capability) '\(target)' in its manifest"
            try deny(capability, target, reason)
        }
        return context
    }

    /// Records a denial as a `policy.decision` event, then fails the import with it.
    private func deny(_ capability: String, _ target: String, _ reason: String) throws -> Never {
        if let context, let record = context.record {
            let draft = EventDraft(
                type: .policyDecision,
                actor: .system,
                session: context.sessionID,
                payload: [
                    "agent": .string(context.agent), "tool": .string(tool),
                    "call_id": .string(context.callID?.rawValue ?? ""), "plugin": .string(plugin),
                    "capability": .string(capability), "target": .string(String(target.prefix(512))),
                    "verdict": .string(PolicyDecision.Verdict.deny.rawValue), "rule": "plugin.capability",
                    "reason": .string(reason), "tainted": .bool(context.tainted),
                ]
            )
            try Self.wait { try await record(draft) }
        }
        throw HostFailure(code: .denied, message: "denied: \(reason)")
    }

    /// A workspace-relative path with no way out: absolute paths and `..` are refused before any grant is read.
    private func workspacePath(_ path: String, _ capability: String) throws -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        if path.hasPrefix("/") || parts.contains("..") || path.contains("\0") || parts.isEmpty {
            try deny(capability, path, "'\(path)' is not a path inside the workspace")
        }
        return parts.joined(separator: "/")
    }

    private func readFile(_ path: String) throws -> [UInt8] {
        let relative = try workspacePath(path, "read")
        let context = try granted("read", relative, grants.allows(relative, writing: false))
        let absolute = context.workspace.root.appendingPathComponent(relative).path
        if let provenance = context.provenance, try Self.wait({ try await provenance.holdsTaintedContent(absolute) }) {
            readTainted.withLock { $0 = true }
        }
        do {
            let (data, truncated) = try context.workspace.read(relative, limit: Self.maxBytes)
            guard !truncated else { throw HostFailure(code: .failed, message: "'\(relative)' is larger than 1 MiB") }
            return Array(data)
        } catch let error as WorkspaceError {
            let missing = !FileManager.default.fileExists(atPath: absolute)
            throw HostFailure(code: missing ? .notFound : .failed, message: error.message)
        }
    }

    private func writeFile(_ path: String, _ data: [UInt8]) throws {
        let relative = try workspacePath(path, "write")
        let context = try granted("write", relative, grants.allows(relative, writing: true))
        // What a plugin writes is its author's content: a later read counts it as untrusted when the run was
        // tainted, as a file tool's write would be. Marked before the write, so no failure part-way leaves it unmarked.
        if context.tainted, let provenance = context.provenance {
            let absolute = context.workspace.root.appendingPathComponent(relative).path
            let (session, agent) = (context.sessionID, context.agent)
            try Self.wait { try await provenance.recordTaintedWrite(absolute, session: session, agent: agent) }
        }
        do {
            try context.workspace.write(relative, data: Data(data))
        } catch let error as WorkspaceError {
            throw HostFailure(code: .failed, message: error.message)
        }
    }

    private func fetch(_ text: String) throws -> [UInt8] {
        guard let request = try? JSONValue.parse(text), let address = request["url"]?.stringValue,
            let url = URL(string: address), let host = url.host?.lowercased()
        else {
            throw HostFailure(code: .invalid, message: #"the request must be JSON: {"url": "...", ...}"#)
        }
        let method = (request["method"]?.stringValue ?? "GET").uppercased()
        guard method == "GET" || method == "POST" else {
            throw HostFailure(code: .invalid, message: "method must be GET or POST")
        }
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let context = try granted("hosts", bare, EgressPolicy(allowedHosts: grants.hosts).allows(host: bare))
        guard context.egress.allows(host: bare) else {
            try deny("hosts", bare, "'\(bare)' is not on agent '\(context.agent)''s network allowlist")
        }
        // The SSRF guard on the first hop (a refusal is a denial); every redirect is checked again in the fetch.
        let egress = EgressPolicy(
            allowedHosts: grants.hosts,
            allowedPrivateAddresses: context.egress.allowedPrivateAddresses
        )
        do {
            _ = try HTTPFetch.check(url, egress: egress)
        } catch {
            try deny("hosts", bare, "\(error)")
        }
        let headers = (request["headers"]?.objectValue ?? [:]).compactMap { name, value in
            value.stringValue.map { (name, $0) }
        }
        let (body, timeout) = (request["body"]?.stringValue, self.timeout)
        do {
            let page = try Self.wait {
                try await HTTPFetch.fetch(
                    url,
                    method: method,
                    body: body,
                    headers: headers,
                    egress: egress,
                    timeout: timeout
                )
            }
            let answer: JSONValue = [
                "status": .int(page.status), "url": .string(page.url.absoluteString),
                "content_type": page.contentType.map { .string($0) } ?? .null, "body": .string(page.body),
            ]
            return Array(answer.canonicalJSON.utf8)
        } catch {
            throw HostFailure(code: .failed, message: "\(error)")
        }
    }

    private func secret(_ name: String) throws -> String {
        _ = try granted("secrets", name, grants.secrets.contains(name))
        guard let secrets else { throw HostFailure(code: .notFound, message: "no secret store here") }
        let value: String
        do {
            value = try secrets(name)
        } catch {
            throw HostFailure(code: .notFound, message: "secret '\(name)': \(error)")
        }
        revealed.withLock { $0[name] = value }
        return value
    }

    private func value(_ key: String) throws -> [UInt8] {
        _ = try granted("kv", key, grants.allows(key: key))
        guard let value = try store().get(key) else {
            throw HostFailure(code: .notFound, message: "no value for '\(key)'")
        }
        return value
    }

    private func setValue(_ key: String, _ value: [UInt8]) throws {
        _ = try granted("kv", key, grants.allows(key: key))
        do {
            try store().set(key, value)
        } catch let error as PluginError {
            throw HostFailure(code: .failed, message: error.description)
        }
    }

    private func store() throws -> PluginState {
        guard let state else { throw HostFailure(code: .failed, message: "this plugin has no store here") }
        return state
    }

    /// Runs async work from a plugin thread (never a cooperative one), waiting for it.
    static func wait<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        let outcome = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                let value = try await work()
                outcome.withLock { $0 = .success(value) }
            } catch {
                outcome.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0! }.get()
    }
}

/// A plugin's own key-value store (`kv_get` / `kv_set`), kept in one JSON file and written through at every set.
/// Keys are at most 256 bytes, the whole store at most 1 MiB.
public final class PluginState: Sendable {
    public let file: URL
    private let values: Mutex<[String: [UInt8]]>

    public static let maxBytes = 1 << 20

    public init(file: URL) {
        self.file = file
        var loaded: [String: [UInt8]] = [:]
        if let data = FileManager.default.contents(atPath: file.path) {
            if let table = (try? JSONValue.parse(Array(data)))?.objectValue {
                for (key, value) in table {
                    if let encoded = value.stringValue, let bytes = Data(base64Encoded: encoded) {
                        loaded[key] = Array(bytes)
                    }
                }
            } else {
                // Never overwritten unread: a store that does not parse is kept aside, and the plugin starts empty.
                let aside = file.appendingPathExtension("corrupt-\(Int(Date().timeIntervalSince1970))")
                try? FileManager.default.moveItem(at: file, to: aside)
                PluginHost.logger.error(
                    "plugin store does not parse; kept aside",
                    metadata: ["file": "\(file.path)", "aside": "\(aside.path)"]
                )
            }
        }
        values = Mutex(loaded)
    }

    public func get(_ key: String) -> [UInt8]? { values.withLock { $0[key] } }

    public func set(_ key: String, _ value: [UInt8]) throws {
        guard !key.isEmpty, key.utf8.count <= 256 else {
            throw PluginError.failed(
                plugin: file.deletingPathExtension().lastPathComponent,
                reason: "keys are 1-256 bytes"
            )
        }
        try values.withLock { values in
            var next = values
            next[key] = value.isEmpty ? nil : value
            let size = next.reduce(0) { $0 + $1.key.utf8.count + $1.value.count }
            guard size <= Self.maxBytes else {
                throw PluginError.failed(
                    plugin: file.deletingPathExtension().lastPathComponent,
                    reason: "its store would grow past 1 MiB"
                )
            }
            let table = JSONValue.object(next.mapValues { .string(Data($0).base64EncodedString()) })
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try DurableFile.replace(file.path, bytes: Array(table.canonicalJSON.utf8), mode: 0o600)
            values = next
        }
    }
}
