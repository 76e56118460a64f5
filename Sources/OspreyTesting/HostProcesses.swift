import Foundation

/// The host's processes, read from `/proc`.
public enum HostProcesses {
    /// The pids of the processes whose command line (its arguments, each ended by a NUL) contains `marker`.
    public static func containing(_ marker: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
            return String(decoding: data, as: UTF8.self).contains(marker)
        }
    }
}
