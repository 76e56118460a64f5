public import Foundation

/// Runs scripts/verify-ledger.py, the independent checker, on an exported ledger.
public enum LedgerVerifier {
    /// The verifier's exit status and standard output for `file`.
    public static func run(_ file: URL) async throws -> (status: Int32, output: String) {
        var root = URL(fileURLWithPath: #filePath)
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            root.deleteLastPathComponent()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root.appendingPathComponent("scripts/verify-ledger.py").path, file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        // Read on a thread of its own and waited for by polling: the task pool's threads never block on the child.
        let output = await Task.detachedRead(pipe.fileHandleForReading)
        while process.isRunning { try await Task.sleep(for: .milliseconds(5)) }
        return (process.terminationStatus, output)
    }
}
