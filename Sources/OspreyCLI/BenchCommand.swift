import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `osprey bench ARGS`: replaces this process with `osprey-bench ARGS`, the benchmarks' own executable.
///
/// The benchmarks live in a separate product so the CLI does not link what only they use. Exec (not spawn) keeps the
/// pid, so a caller's time-out or signal reaches the benchmark itself, and the output is the benchmark's own.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run benchmarks and print the figures (runs osprey-bench; see `osprey-bench --help`)."
    )

    @Argument(parsing: .captureForPassthrough, help: "A benchmark and its options, passed to osprey-bench.")
    var arguments: [String] = []

    func run() async throws {
        try await report {
            // `swift build` puts every product in one folder, so osprey-bench sits beside the running osprey.
            let path = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
                .deletingLastPathComponent().appendingPathComponent("osprey-bench").path
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw CLIError("osprey-bench is not built; run swift build --product osprey-bench")
            }
            var argv = ([path] + arguments).map { strdup($0) } + [nil]
            execv(path, &argv)
            // execv returns only when it failed.
            throw CLIError("cannot run \(path): \(String(cString: strerror(errno)))")
        }
    }
}
