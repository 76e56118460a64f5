import COspreySystem
public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The sandbox ladder commands run under, resolved once at start-up from `[sandbox] backend` and what the
/// machine offers.
///
/// Every command gets, in order: rlimits (`prlimit`), cgroup v1 memory and pids limits where the machine has
/// them, bubblewrap (the OS rung), and `osprey-jail` inside, which sets no-new-privileges, a Landlock ruleset
/// (the system read-only, the workspace and write roots writable, nothing else readable) and a seccomp filter,
/// then executes the command. Fail closed: when a rung the configuration asks for is missing, commands are
/// refused, never run bare.
public struct Sandbox: Hashable, Sendable {
    public enum Rung: Hashable, Sendable {
        /// bubblewrap: every namespace unshared (no network), all capabilities dropped, the system read-only,
        /// the workspace the only writable bind, the home and /tmp hidden; then the jail.
        case bubblewrap(path: String)
        /// Process limits, Landlock and seccomp, no namespaces: chosen explicitly (`backend = "process"` or an
        /// agent with `exec = "full"`).
        case process
        /// Nothing: backend `none`, an explicit opt-out for development.
        case bare
        /// A rung the configuration needs is missing: commands are refused with this reason.
        case unavailable(String)
    }

    /// Resource limits every command starts under: rlimits always, cgroup limits where available.
    public struct Limits: Hashable, Sendable {
        public var cpuSeconds = 600
        public var addressSpaceBytes = 4 << 30
        public var fileSizeBytes = 1 << 30
        public var openFiles = 1024
        public var memoryBytes = 1 << 30
        public var processes = 256
        public init() {}
    }

    /// The cgroup v1 directories under which each command gets its own limited group.
    public struct ControlGroups: Hashable, Sendable {
        /// e.g. /sys/fs/cgroup/memory/osprey
        public var memory: String
        /// e.g. /sys/fs/cgroup/pids/osprey
        public var pids: String
    }

    public let rung: Rung
    /// Directories hidden from commands (the Osprey home, the user's home); the workspace is bound back.
    public let hidden: [String]
    /// The `prlimit` program that applies the rlimits in the child before the command runs.
    public let prlimit: String?
    /// The `osprey-jail` program (Landlock, seccomp, no-new-privileges, cgroup join).
    public let jail: String?
    /// cgroup v1 limits, when the machine offers them; nil otherwise (reported by `doctor`).
    public let controlGroups: ControlGroups?
    public let limits: Limits
    /// The egress proxy commands granted network go out through; nil refuses them network.
    public var egressProxy: EgressProxy?

    public init(
        rung: Rung,
        hidden: [String] = [],
        prlimit: String? = nil,
        jail: String? = nil,
        controlGroups: ControlGroups? = nil,
        limits: Limits = Limits()
    ) {
        self.rung = rung
        self.hidden = hidden
        self.prlimit = prlimit
        self.jail = jail
        self.controlGroups = controlGroups
        self.limits = limits
    }

    /// System directories a command may read (and execute from); everything else outside its roots is invisible
    /// to it under Landlock.
    public static let systemDirectories = [
        "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/dev", "/proc",
    ]

    /// The devices a command may read: never a disk, the kernel log or memory, which a uid 0 command could read.
    static let harmlessDevices = [
        "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx", "/dev/pts",
        "/dev/shm",
    ]

    /// Entries of /etc that hold secrets of the host (password hashes, sudo rules, private keys, VPN and Wi-Fi
    /// credentials): hidden by bubblewrap and left out of Landlock's readable set on every rung.
    static let etcSecrets: Set<String> = [
        "shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "security", "credstore",
        "credstore.encrypted", "wireguard", "NetworkManager", "openvpn", "ppp", "ipsec.secrets", "ssh", "ssl",
    ]

    /// bubblewrap arguments that cover the secrets of /etc: an empty directory over a directory, /dev/null
    /// over a file; of `ssh` only the host keys, of `ssl` only `private`.
    static func hidingConfiguration(etc: String = "/etc") -> [String] {
        let manager = FileManager.default
        var secrets = etcSecrets.subtracting(["ssh", "ssl"]).sorted().map { etc + "/" + $0 }
        secrets.append(etc + "/ssl/private")
        let readable = Set(readableConfiguration(etc: etc))
        for name in ((try? manager.contentsOfDirectory(atPath: etc + "/ssh")) ?? []).sorted()
        where !readable.contains(etc + "/ssh/" + name) {
            secrets.append(etc + "/ssh/" + name)
        }
        var arguments: [String] = []
        for path in secrets {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            arguments += isDirectory.boolValue ? ["--tmpfs", path] : ["--ro-bind", "/dev/null", path]
        }
        return arguments
    }

    /// What Landlock may let a command read in `etc`: every entry but the secrets, with the public part of
    /// `ssh` (client configuration, not host keys) and `ssl` (certificates, not `private`).
    static func readableConfiguration(etc: String = "/etc") -> [String] {
        let manager = FileManager.default
        var paths: [String] = []
        for name in ((try? manager.contentsOfDirectory(atPath: etc)) ?? []).sorted() {
            if !etcSecrets.contains(name) { paths.append(etc + "/" + name) }
        }
        for name in ((try? manager.contentsOfDirectory(atPath: etc + "/ssh")) ?? []).sorted()
        where (!name.hasSuffix("_key") && !name.hasPrefix("ssh_host_")) || name.hasSuffix(".pub") {
            paths.append(etc + "/ssh/" + name)
        }
        for name in ((try? manager.contentsOfDirectory(atPath: etc + "/ssl")) ?? []).sorted() where name != "private" {
            paths.append(etc + "/ssl/" + name)
        }
        return paths
    }

    /// Resolves `backend` (`auto`, `bwrap`, `process`, `none`) against the machine.
    ///
    /// `searchPath` is where bwrap and prlimit are looked for; `jail` is the `osprey-jail` path (default: beside
    /// the running executable, then on `searchPath`); `landlockABI` is what the kernel reported.
    public static func resolve(
        backend: String,
        hidden: [String],
        limits: Limits = Limits(),
        searchPath: String = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        jail: String? = nil,
        landlockABI: Int = Sandbox.kernelLandlockABI,
        controlGroupRoot: String? = "/sys/fs/cgroup"
    ) -> Sandbox {
        func find(_ program: String) -> String? {
            searchPath.split(separator: ":").map { "\($0)/\(program)" }.first {
                FileManager.default.isExecutableFile(atPath: $0)
            }
        }
        func refuse(_ reason: String) -> Sandbox { Sandbox(rung: .unavailable(reason), hidden: hidden, limits: limits) }
        if backend == "none" { return Sandbox(rung: .bare, hidden: hidden, limits: limits) }
        guard ["auto", "bwrap", "process"].contains(backend) else {
            return refuse("unknown sandbox backend '\(backend)'")
        }
        guard let prlimit = find("prlimit") else {
            return refuse("prlimit (util-linux) is not installed, so resource limits cannot be applied")
        }
        guard let jail = jail ?? locateJail(searchPath: searchPath), FileManager.default.isExecutableFile(atPath: jail)
        else {
            return refuse("osprey-jail is missing (it is built and installed beside osprey)")
        }
        guard landlockABI >= 1 else {
            return refuse("the kernel offers no Landlock, so commands cannot be confined to their files")
        }
        let groups = controlGroupRoot.flatMap { ControlGroups.probe(root: $0) }
        var rung = Rung.process
        if backend != "process" {
            guard let bwrap = find("bwrap") else {
                return refuse(
                    "no OS sandbox: bubblewrap (bwrap) is not installed; install it, or set [sandbox] backend = \"process\" to accept process limits, Landlock and seccomp only"
                )
            }
            rung = .bubblewrap(path: bwrap)
        }
        return Sandbox(
            rung: rung,
            hidden: hidden,
            prlimit: prlimit,
            jail: jail,
            controlGroups: groups,
            limits: limits
        )
    }

    /// The Landlock ABI version the running kernel offers; 0 or less when it offers none.
    public static var kernelLandlockABI: Int { Int(osprey_landlock_abi_version()) }

    /// `osprey-jail` beside the running executable (an installed `osprey`, or the test runner in `.build`), else on PATH.
    static func locateJail(searchPath: String) -> String? {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let candidates =
            [URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("osprey-jail").path]
            + searchPath.split(separator: ":").map { "\($0)/osprey-jail" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A name for `doctor` and events: `bwrap`, `process`, `none` or `unavailable`.
    public var name: String {
        switch rung {
        case .bubblewrap: "bwrap"
        case .process: "process"
        case .bare: "none"
        case .unavailable: "unavailable"
        }
    }

    /// This sandbox without bubblewrap: what an agent with `exec = "full"` runs under (still rlimits, Landlock, seccomp).
    public var withoutNamespaces: Sandbox {
        guard case .bubblewrap = rung else { return self }
        var sandbox = Sandbox(
            rung: .process,
            hidden: hidden,
            prlimit: prlimit,
            jail: jail,
            controlGroups: controlGroups,
            limits: limits
        )
        sandbox.egressProxy = egressProxy
        return sandbox
    }

    /// The argv to spawn for `argv` run in `workspace`, or the reason it must not run.
    ///
    /// `writeRoots` are writable besides the workspace, `readRoots` readable. A command never shares the host's
    /// network: its namespace has only loopback (Landlock's TCP rules on the process rung). `egress`, the Unix
    /// socket of an ``EgressGrant``, is its one way out, through the egress proxy; only the bubblewrap rung can
    /// give it, since only it gives the command a network namespace of its own.
    public func launch(
        _ argv: [String],
        workspace: String,
        readRoots: [String] = [],
        writeRoots: [String] = [],
        egress: String? = nil
    ) -> Result<Launch, SandboxError> {
        let bubblewrap: String?
        switch rung {
        case .unavailable(let reason): return .failure(SandboxError(reason: reason))
        case .bare: return .success(Launch(argv: argv, controlGroups: []))
        case .process:
            guard egress == nil else {
                return .failure(
                    SandboxError(
                        reason:
                            "commands reach the network only through the egress proxy, from a network namespace of their own; the process rung has none (use bubblewrap)"
                    )
                )
            }
            bubblewrap = nil
        case .bubblewrap(let path): bubblewrap = path
        }
        guard let jail, prlimit != nil else { return .failure(SandboxError(reason: "the sandbox is not resolved")) }
        if bubblewrap == nil,
            let exposed = hidden.first(where: { hidden in
                (Self.systemDirectories + readRoots).contains { hidden == $0 || hidden.hasPrefix($0 + "/") }
            })
        {
            // Without namespaces nothing hides the home: it must not lie inside a directory commands may read.
            return .failure(
                SandboxError(reason: "\(exposed) lies inside a directory commands may read; the process rung refuses")
            )
        }
        let groups: [String]
        do {
            groups = try controlGroups?.create(limits: limits) ?? []
        } catch {
            return .failure(SandboxError(reason: "cannot create the command's cgroup: \(error)"))
        }
        // Landlock inside: the system read-only, the workspace and write roots writable, nothing else visible.
        func confine(_ program: String, extraWrites: [String]) -> [String] {
            var arguments = [program, "--seccomp"]
            // /etc may be listed, and every file in it read except the host's secrets.
            arguments += ["--list", "/etc"]
            for path in Self.readableConfiguration() { arguments += ["--read", path] }
            // Of /dev only the harmless devices: never a disk, the kernel log or memory.
            arguments += ["--list", "/dev"]
            for device in Self.harmlessDevices { arguments += ["--read", device] }
            for directory in Self.systemDirectories + readRoots where directory != "/etc" && directory != "/dev" {
                arguments += ["--read", directory]
            }
            for directory in [workspace] + writeRoots + extraWrites + ["/dev/null"] {
                arguments += ["--write", directory]
            }
            return arguments
        }
        var command = limited([])
        if !groups.isEmpty {
            // Join the cgroups outside bubblewrap, where /sys/fs/cgroup is still writable.
            command += [jail] + groups.flatMap { ["--cgroup", $0] } + ["--"]
        }
        if let bubblewrap {
            // The jail is bound at a fixed path: its real directory may be hidden (an install under the home).
            let inner = "/run/osprey-jail"
            command += [bubblewrap, "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--unshare-all"]
            // Under a root gateway, an unprivileged user inside its own user namespace, never root (who owns
            // /etc/shadow). Under any other user the command already runs as that unprivileged user.
            if geteuid() == 0 { command += ["--unshare-user", "--uid", "65534", "--gid", "65534"] }
            // /run is replaced too: it holds the daemon sockets (D-Bus, Docker) a command has no business with.
            command += [
                "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run",
            ]
            // Other users' homes, root's, and the secrets in /etc are not there.
            for directory in ["/root", "/home"] where FileManager.default.fileExists(atPath: directory) {
                command += ["--tmpfs", directory]
            }
            command += Self.hidingConfiguration()
            for directory in hidden { command += ["--tmpfs", directory] }
            for directory in readRoots { command += ["--ro-bind-try", directory, directory] }
            for directory in writeRoots { command += ["--bind-try", directory, directory] }
            command += ["--bind", workspace, workspace, "--ro-bind", jail, inner]
            var jailing = confine(inner, extraWrites: ["/tmp"])
            if let egress {
                command += ["--bind", egress, EgressProxy.socketInside]
                jailing += ["--egress", EgressProxy.socketInside]
            }
            command += ["--chdir", workspace, "--"] + jailing + ["--"] + argv
        } else {
            // Without bubblewrap the jail still gives the command a PID namespace of its own: it cannot see or
            // signal the gateway, and nothing it starts outlives it.
            command += confine(jail, extraWrites: []) + ["--pid-namespace", "--drop-capabilities"]
            command += ["--no-network", "--"] + argv
        }
        return .success(Launch(argv: command, controlGroups: groups))
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

/// Why a command was refused by the sandbox.
public struct SandboxError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
