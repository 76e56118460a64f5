public import Foundation

/// The OS sandbox rung commands run under, resolved once from `[sandbox] backend` and what the machine offers.
///
/// Fail closed: when the configured rung (or, for `auto`, bubblewrap) is missing, commands are refused,
/// never run bare.
public struct Sandbox: Hashable, Sendable {
    public enum Rung: Hashable, Sendable {
        /// bubblewrap: every namespace unshared (no network), all capabilities dropped, no new privileges,
        /// the system read-only, the workspace the only writable bind, the home and /tmp hidden.
        case bubblewrap(path: String)
        /// Process limits only (process group, timeout, output cap, scrubbed environment); chosen explicitly.
        case process
        /// Nothing acceptable is available: commands are refused with this reason.
        case unavailable(String)
    }

    /// Resource limits (rlimits) every command starts under.
    public struct Limits: Hashable, Sendable {
        public var cpuSeconds = 600
        public var addressSpaceBytes = 4 << 30
        public var fileSizeBytes = 1 << 30
        public var openFiles = 1024
        public init() {}
    }

    public let rung: Rung
    /// Directories hidden from commands (the Osprey home, the user's home); the workspace is bound back.
    public let hidden: [String]
    /// The `prlimit` program that applies ``limits`` in the child before the command runs (nil: no limits).
    public let prlimit: String?
    public let limits: Limits

    public init(rung: Rung, hidden: [String] = [], prlimit: String? = nil, limits: Limits = Limits()) {
        self.rung = rung
        self.hidden = hidden
        self.prlimit = prlimit
        self.limits = limits
    }

    /// Resolves `backend` (`auto`, `bwrap`, `process`, `none`) against the machine; `searchPath` is where bwrap is looked for.
    public static func resolve(
        backend: String,
        hidden: [String],
        searchPath: String = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    ) -> Sandbox {
        func find(_ program: String) -> String? {
            searchPath.split(separator: ":").map { "\($0)/\(program)" }.first {
                FileManager.default.isExecutableFile(atPath: $0)
            }
        }
        // rlimits are part of every rung but "none": without util-linux's prlimit to apply them, nothing runs.
        let prlimit = find("prlimit")
        let noLimits = Sandbox(
            rung: .unavailable("prlimit (util-linux) is not installed, so resource limits cannot be applied"),
            hidden: hidden
        )
        switch backend {
        case "none":
            return Sandbox(rung: .process, hidden: hidden)
        case "process":
            guard let prlimit else { return noLimits }
            return Sandbox(rung: .process, hidden: hidden, prlimit: prlimit)
        case "bwrap", "auto":
            if let bwrap = find("bwrap") {
                guard let prlimit else { return noLimits }
                return Sandbox(rung: .bubblewrap(path: bwrap), hidden: hidden, prlimit: prlimit)
            }
            return Sandbox(
                rung: .unavailable(
                    "no OS sandbox: bubblewrap (bwrap) is not installed; install it, or set [sandbox] backend = \"process\" to accept process limits only"
                ),
                hidden: hidden
            )
        default:
            return Sandbox(rung: .unavailable("unknown sandbox backend '\(backend)'"), hidden: hidden)
        }
    }

    /// A name for `doctor` and events: `bwrap`, `process` or `unavailable`.
    public var name: String {
        switch rung {
        case .bubblewrap: "bwrap"
        case .process: "process"
        case .unavailable: "unavailable"
        }
    }

    /// The argv to spawn for `argv` run in `workspace`, or the reason it must not run.
    public func wrap(_ argv: [String], workspace: String, network: Bool = false) -> Result<[String], SandboxError> {
        switch rung {
        case .unavailable(let reason):
            return .failure(SandboxError(reason: reason))
        case .process:
            return .success(limited(argv))
        case .bubblewrap(let path):
            var wrapped = [path, "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--unshare-all"]
            if network { wrapped.append("--share-net") }
            wrapped += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
            for directory in hidden {
                wrapped += ["--tmpfs", directory]
            }
            wrapped += ["--bind", workspace, workspace, "--chdir", workspace, "--"]
            return .success(wrapped + limited(argv))
        }
    }
}

extension Sandbox {
    /// `argv` behind `prlimit`, which sets the limits in the child and then executes it.
    func limited(_ argv: [String]) -> [String] {
        guard let prlimit else { return argv }
        return [
            prlimit, "--cpu=\(limits.cpuSeconds)", "--as=\(limits.addressSpaceBytes)",
            "--fsize=\(limits.fileSizeBytes)",
            "--nofile=\(limits.openFiles)", "--",
        ] + argv
    }
}

/// Why a command was refused by the sandbox rung.
public struct SandboxError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
