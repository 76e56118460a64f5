public import Foundation
public import Testing

/// Where the tests find the model files and the Cranfield reference data.
public enum TestResources {
    /// The all-MiniLM-L6-v2 directory named by `OSPREY_MINILM_DIR`, or nil if it isn't set or lacks the weights.
    public static let modelDirectory: URL? = {
        let environment = ProcessInfo.processInfo.environment
        // Where scripts/install-deps unpacks it, unless OSPREY_MINILM_DIR says otherwise.
        let path =
            environment["OSPREY_MINILM_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["OSPREY_MODELS"] ?? (environment["HOME"] ?? "/root") + "/.cache/osprey/models")
            + "/all-minilm-l6-v2"
        let directory = URL(fileURLWithPath: path)
        let required = ["model.safetensors", "config.json", "vocab.txt"]
        let present = required.allSatisfy {
            FileManager.default.fileExists(atPath: directory.appendingPathComponent($0).path)
        }
        return present ? directory : nil
    }()

    /// Why model tests are skipped when ``modelDirectory`` is nil.
    public static let modelAbsent: Comment =
        "Run scripts/install-deps (or set OSPREY_MINILM_DIR to a directory with all-MiniLM-L6-v2's model.safetensors, config.json and vocab.txt)"

    /// True when the Cranfield reference data is present (it lives beside the repository, in ../shared/data).
    public static var cranfieldPresent: Bool {
        FileManager.default.fileExists(atPath: cranfieldDirectory.appendingPathComponent("minilm.npz").path)
    }

    /// `OSPREY_CRANFIELD_DIR`, or `../shared/data/cranfield` next to the package root.
    public static let cranfieldDirectory: URL = {
        if let path = ProcessInfo.processInfo.environment["OSPREY_CRANFIELD_DIR"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // OspreyTesting
            .deletingLastPathComponent()  // Sources
            .deletingLastPathComponent()
        return packageRoot.appendingPathComponent("../shared/data/cranfield").standardizedFileURL
    }()
}
