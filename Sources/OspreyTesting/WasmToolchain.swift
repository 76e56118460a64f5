public import Foundation

/// The C-to-WebAssembly toolchain the plugin tests use: the Swift toolchain's clang, Debian's `wasi-libc` and the
/// wasm32 compiler-rt builtins (`scripts/install-deps` installs both).
public enum WasmToolchain {
    /// The wasm32 builtins archive Debian installs (`libclang-rt-*-dev-wasm32`).
    public static var builtins: String? {
        let root = "/usr/lib"
        let llvm = (try? FileManager.default.contentsOfDirectory(atPath: root))?.filter { $0.hasPrefix("llvm-") } ?? []
        for version in llvm.sorted().reversed() {
            let clang = "\(root)/\(version)/lib/clang"
            for release in (try? FileManager.default.contentsOfDirectory(atPath: clang)) ?? [] {
                let path = "\(clang)/\(release)/lib/wasi/libclang_rt.builtins-wasm32.a"
                if FileManager.default.fileExists(atPath: path) { return path }
            }
        }
        return nil
    }

    /// The C header of Osprey's host functions (`sdk/c/osprey.h`), on every compile's include path.
    public static let sdk = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("sdk/c")

    /// Compiles one C file to a WASI preview-1 command module. The compiler runs and is waited for on a thread of
    /// its own: a test must never hold a cooperative thread for a second (the other tests' servers run there).
    public static func compileC(_ source: URL, to output: URL) async throws {
        guard let builtins else {
            throw ProcessFailure(message: "no wasm32 compiler-rt builtins: run scripts/install-deps --plugins")
        }
        let arguments = [
            "clang", "--target=wasm32-wasi", "--sysroot=/usr", "-isystem", "/usr/include/wasm32-wasi",
            "-I", sdk.path, "-L/usr/lib/wasm32-wasi", "-O2", "-nodefaultlibs", "-o", output.path, source.path, "-lc",
            builtins,
        ]
        let (status, said) = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<(Int32, String), any Error>) in
            Thread.detachNewThread {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = arguments
                let errors = Pipe()
                process.standardError = errors
                do {
                    try process.run()
                } catch {
                    return continuation.resume(throwing: error)
                }
                let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                continuation.resume(returning: (process.terminationStatus, said))
            }
        }
        guard status == 0 else { throw ProcessFailure(message: "clang failed (\(status)): \(said)") }
    }

    /// The C plugin fixture `name` (`Tests/Fixtures/plugins/NAME/`: its plugin.toml and NAME.c) built into
    /// `parent/NAME/`, ready to load or install; returns that folder.
    public static func buildFixture(_ name: String, from fixtures: URL, into parent: URL) async throws -> URL {
        let folder = parent.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let source = fixtures.appendingPathComponent(name)
        try FileManager.default.copyItem(
            at: source.appendingPathComponent("plugin.toml"),
            to: folder.appendingPathComponent("plugin.toml")
        )
        try await compileC(
            source.appendingPathComponent("\(name).c"),
            to: folder.appendingPathComponent("\(name).wasm")
        )
        return folder
    }
}
