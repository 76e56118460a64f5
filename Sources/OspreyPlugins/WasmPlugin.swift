import COspreySystem
public import Foundation
public import OspreyCore
import Synchronization
import WASI
@_spi(Fuzzing) import WasmKit
import WasmKitWASI

#if canImport(Glibc)
import Glibc
#endif

/// A loaded plugin: its manifest and its parsed module, ready to call.
///
/// The module is parsed and checked once, at load: every import must be a WASI preview-1 function or one of
/// Osprey's host functions (``PluginHost``; a module that imports anything else is refused with the import's name),
/// and a command must export `_start`. Each call runs on a thread of its own (never the cooperative pool, so a
/// plugin that loops does not slow the gateway), with the manifest's fuel (the interpreter stops it when the
/// budget is spent) and memory cap (growth past it is refused), its JSON request on stdin and nothing else: no
/// arguments, environment, preopened files or network; what it may reach goes through the host imports, each
/// checked against the manifest's capabilities.
public final class WasmPlugin: Sendable {
    public let manifest: PluginManifest
    public let directory: URL
    private let module: Module
    private let engine: Engine
    /// The `osprey` functions the module imports.
    private let hostImports: Set<String>
    /// The host of the reactor call in progress (its instance outlives any one call).
    private let currentHost = Mutex<PluginHost?>(nil)

    /// The interpreter's stack for one call: deeper recursion traps (call stack exhausted).
    public static let stackBytes = 512 << 10

    /// The largest answer read from a call's stdout.
    public static let maxOutputBytes = 1 << 20

    /// Loads the plugin in `directory` (its `plugin.toml` and module).
    public convenience init(directory: URL) throws {
        let manifestURL = directory.appendingPathComponent(PluginManifest.fileName)
        guard let text = try? String(contentsOf: manifestURL, encoding: .utf8) else {
            throw PluginError.manifest("\(manifestURL.path): cannot be read")
        }
        let manifest = try PluginManifest(toml: text)
        let moduleURL = directory.appendingPathComponent(manifest.module)
        guard let bytes = try? Data(contentsOf: moduleURL) else {
            throw PluginError.module("plugin '\(manifest.name)': its module \(manifest.module) cannot be read")
        }
        try self.init(manifest: manifest, module: [UInt8](bytes), directory: directory)
    }

    public init(manifest: PluginManifest, module bytes: [UInt8], directory: URL) throws {
        self.manifest = manifest
        self.directory = directory
        do {
            module = try parseWasm(bytes: bytes)
        } catch {
            throw PluginError.module("plugin '\(manifest.name)': \(manifest.module) is not a valid module: \(error)")
        }
        for item in module.imports
        where item.module != "wasi_snapshot_preview1"
            && !(item.module == "osprey" && PluginHost.imports.contains(item.name))
        {
            throw PluginError.module(
                "plugin '\(manifest.name)' imports \(item.module).\(item.name), which Osprey does not offer "
                    + "(WASI preview 1, and osprey.\(PluginHost.imports.sorted().joined(separator: "|")))"
            )
        }
        for item in module.imports where item.module == "osprey" {
            let expected = PluginHost.signature(item.name)
            guard case .function(let index) = item.descriptor, module.functionType(at: index) == expected else {
                throw PluginError.module(
                    "plugin '\(manifest.name)' imports osprey.\(item.name) with the wrong type (it is "
                        + "\(expected.parameters) -> \(expected.results); see sdk/c/osprey.h)"
                )
            }
        }
        hostImports = Set(module.imports.filter { $0.module == "osprey" }.map(\.name))
        let required = manifest.abi == .command ? ["_start"] : ["memory", "osprey_alloc", "osprey_call"]
        for export in required where !module.exports.contains(where: { $0.name == export }) {
            throw PluginError.module(
                "plugin '\(manifest.name)': a \(manifest.abi.rawValue) module must export \(export)"
            )
        }
        engine = Engine(configuration: EngineConfiguration(stackSize: Self.stackBytes, fuelMetering: true))
    }

    /// The reactor's live instance, made at the first call and kept until a call fails.
    private let reactor = Mutex<Reactor?>(nil)

    /// A reactor instance with its store, WASI bridge and memory cap.
    final class Reactor {
        let store: Store
        let instance: Instance
        let wasi: WASIBridgeToHost
        let cap: MemoryCap
        let stdio: [MemoryFile]

        init(store: Store, instance: Instance, wasi: WASIBridgeToHost, cap: MemoryCap, stdio: [MemoryFile]) {
            self.store = store
            self.instance = instance
            self.wasi = wasi
            self.cap = cap
            self.stdio = stdio
        }

        deinit {
            try? wasi.close()
            for file in stdio { file.close() }
        }
    }

    /// Runs one call: `{"tool": tool, "arguments": arguments}` on stdin; the answer is what it wrote to stdout.
    /// Runs on a thread of its own; the caller's task waits without holding a cooperative thread. `host` serves
    /// the module's `osprey` imports for this call (nil: they are all denied).
    public func call(_ tool: String, arguments: JSONValue, host: PluginHost? = nil) async throws -> String {
        let input = JSONValue.object(["tool": .string(tool), "arguments": arguments]).canonicalJSON
        return try await withCheckedThrowingContinuation { continuation in
            PluginThreads.shared.run {
                continuation.resume(with: Result { try self.run(input: Array(input.utf8), host: host) })
            }
        }
    }

    /// One call with `input` as its request, on the calling thread (which it holds until the call ends; a host
    /// import that waits, such as `http_fetch`, must not run on a cooperative thread).
    public func run(input: [UInt8], host: PluginHost? = nil) throws -> String {
        manifest.abi == .reactor ? try callReactor(input, host: host) : try runCommand(input, host: host)
    }

    /// A reactor call: the request written into the instance's memory, `osprey_call`, the answer read back. A call
    /// that fails (a trap, fuel, the cap, a pointer outside memory) discards the instance; the next call makes a new
    /// one.
    func callReactor(_ input: [UInt8], host: PluginHost?) throws -> String {
        try reactor.withLock { live in
            currentHost.withLock { $0 = host }
            defer { currentHost.withLock { $0 = nil } }
            let reactor = try live ?? makeReactor()
            live = nil  // kept again only if the call succeeds
            reactor.store.fuel = Fuel(remaining: manifest.fuel)
            do {
                let exports = reactor.instance.exports
                guard let memory = exports[memory: "memory"], let alloc = exports[function: "osprey_alloc"],
                    let call = exports[function: "osprey_call"]
                else { throw PluginError.module("plugin '\(manifest.name)' lost its exports") }
                let pointer = Int(try alloc([.i32(UInt32(input.count))]).first?.i32 ?? 0)
                try place(input, at: pointer, in: memory)
                guard let packed = try call([.i32(UInt32(pointer)), .i32(UInt32(input.count))]).first?.i64 else {
                    throw PluginError.failed(plugin: manifest.name, reason: "osprey_call returned nothing")
                }
                let (start, count) = (Int(packed >> 32), Int(packed & 0xffff_ffff))
                guard count <= Self.maxOutputBytes, start + count <= memory.byteCount else {
                    throw PluginError.failed(
                        plugin: manifest.name,
                        reason: "its answer lies outside its memory or is too long"
                    )
                }
                let answer = memory.withUnsafeBufferPointer(offset: UInt(start), count: count) {
                    String(decoding: $0, as: UTF8.self)
                }
                live = reactor
                return answer
            } catch let error as PluginError {
                throw error
            } catch {
                if reactor.cap.refused {
                    throw PluginError.memoryCap(plugin: manifest.name, bytes: manifest.memoryBytes)
                }
                if "\(error)".contains("out of fuel") {
                    throw PluginError.outOfFuel(plugin: manifest.name, fuel: manifest.fuel)
                }
                throw PluginError.failed(plugin: manifest.name, reason: "\(error)")
            }
        }
    }

    private func place(_ bytes: [UInt8], at pointer: Int, in memory: Memory) throws {
        guard pointer >= 0, pointer + bytes.count <= memory.byteCount else {
            throw PluginError.failed(plugin: manifest.name, reason: "osprey_alloc gave memory outside its memory")
        }
        guard !bytes.isEmpty else { return }
        memory.withUnsafeMutableBufferPointer(offset: UInt(pointer), count: bytes.count) { target in
            bytes.withUnsafeBytes { target.copyMemory(from: $0) }
        }
    }

    private func makeReactor() throws -> Reactor {
        let stdio = try [MemoryFile([]), MemoryFile([]), MemoryFile([])]
        let cap = MemoryCap(bytes: manifest.memoryBytes)
        let wasi = try WASIBridgeToHost(
            args: [manifest.name],
            environment: [:],
            preopens: [],
            stdin: stdio[0].descriptor,
            stdout: stdio[1].descriptor,
            stderr: stdio[2].descriptor
        )
        let store = Store(engine: engine)
        store.resourceLimiter = cap
        store.fuel = Fuel(remaining: manifest.fuel)
        var imports = Imports()
        wasi.link(to: &imports, store: store)
        PluginHost.define(hostImports, in: &imports, store: store) { [weak self] in
            self?.currentHost.withLock { $0 }
        }
        do {
            let instance = try module.instantiate(store: store, imports: imports)
            try wasi.initialize(instance)
            return Reactor(store: store, instance: instance, wasi: wasi, cap: cap, stdio: stdio)
        } catch {
            try? wasi.close()
            for file in stdio { file.close() }
            if cap.refused { throw PluginError.memoryCap(plugin: manifest.name, bytes: manifest.memoryBytes) }
            throw PluginError.failed(plugin: manifest.name, reason: "cannot start: \(error)")
        }
    }

    /// One command call: `input` on stdin, a fresh instance.
    func runCommand(_ input: [UInt8], host: PluginHost?) throws -> String {
        let stdin = try MemoryFile(input)
        let stdout = try MemoryFile([])
        let stderr = try MemoryFile([])
        defer {
            stdin.close()
            stdout.close()
            stderr.close()
        }
        let cap = MemoryCap(bytes: manifest.memoryBytes)
        let wasi = try WASIBridgeToHost(
            args: [manifest.name],
            environment: [:],
            preopens: [],
            stdin: stdin.descriptor,
            stdout: stdout.descriptor,
            stderr: stderr.descriptor
        )
        let status: UInt32
        do {
            status = try wasi.runAndClose { wasi in
                let store = Store(engine: engine)
                store.resourceLimiter = cap
                store.fuel = Fuel(remaining: manifest.fuel)
                var imports = Imports()
                wasi.link(to: &imports, store: store)
                PluginHost.define(hostImports, in: &imports, store: store) { host }
                let instance = try module.instantiate(store: store, imports: imports)
                return try wasi.start(instance)
            }
        } catch {
            if cap.refused { throw PluginError.memoryCap(plugin: manifest.name, bytes: manifest.memoryBytes) }
            if "\(error)".contains("out of fuel") {
                throw PluginError.outOfFuel(plugin: manifest.name, fuel: manifest.fuel)
            }
            throw PluginError.failed(plugin: manifest.name, reason: "\(error)")
        }
        let output = stdout.contents(limit: Self.maxOutputBytes)
        guard status == 0 else {
            if cap.refused { throw PluginError.memoryCap(plugin: manifest.name, bytes: manifest.memoryBytes) }
            let said = stderr.contents(limit: 4096).trimmingCharacters(in: .whitespacesAndNewlines)
            throw PluginError.failed(
                plugin: manifest.name,
                reason: "exited with status \(status)" + (said.isEmpty ? "" : ": \(said)")
            )
        }
        return output
    }
}

/// Refuses linear memory past a cap, and remembers that it did.
final class MemoryCap: ResourceLimiter {
    let bytes: Int
    private let hit = Mutex(false)

    init(bytes: Int) { self.bytes = bytes }

    var refused: Bool { hit.withLock { $0 } }

    func limitMemoryGrowth(to desired: Int) throws -> Bool {
        guard desired <= bytes else {
            hit.withLock { $0 = true }
            return false
        }
        return true
    }

    func limitTableGrowth(to desired: Int) throws -> Bool { desired <= 100_000 }
}

/// An anonymous in-memory file (memfd) for a call's stdin, stdout or stderr.
struct MemoryFile {
    let descriptor: Int32

    init(_ contents: [UInt8]) throws {
        descriptor = osprey_memfd("osprey-plugin")
        guard descriptor >= 0 else { throw PluginError.failed(plugin: "host", reason: "memfd_create: errno \(errno)") }
        var written = 0
        while written < contents.count {
            let count = contents[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { throw PluginError.failed(plugin: "host", reason: "writing stdin: errno \(errno)") }
            written += count
        }
        lseek(descriptor, 0, SEEK_SET)
    }

    /// What was written, up to `limit` bytes.
    func contents(limit: Int) -> String {
        let size = Int(lseek(descriptor, 0, SEEK_END))
        var buffer = [UInt8](repeating: 0, count: min(max(size, 0), limit))
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        return String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
    }

    func close() { _ = Glibc.close(descriptor) }
}

/// The threads plugin calls run on: a few of Osprey's own, never the cooperative pool, so a plugin that computes
/// (or loops until its fuel runs out) holds one of these and nothing the gateway needs. A call waits for a free
/// thread; a thread is started when all are busy, up to ``limit``.
final class PluginThreads: Sendable {
    static let shared = PluginThreads(limit: max(2, ProcessInfo.processInfo.activeProcessorCount))

    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var idle = 0
        var threads = 0
    }

    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func run(_ job: @escaping @Sendable () -> Void) {
        let start = state.withLock { state -> Bool in
            state.jobs.append(job)
            if state.idle > 0 {
                state.idle -= 1
                return false
            }
            guard state.threads < limit else { return false }
            state.threads += 1
            return true
        }
        if start {
            let thread = Thread { [self] in work() }
            thread.name = "osprey-plugin"
            thread.stackSize = 8 << 20
            thread.start()
        } else {
            wake.signal()
        }
    }

    private func work() {
        while true {
            let job = state.withLock { state -> (@Sendable () -> Void)? in
                if state.jobs.isEmpty {
                    state.idle += 1
                    return nil
                }
                return state.jobs.removeFirst()
            }
            if let job { job() } else { wake.wait() }
        }
    }
}
