import ArgumentParser
import Foundation
import OspreyCore

/// `osprey service install`: the gateway as a hardened systemd service that tells systemd when it is ready, alive
/// and stopping (`Type=notify`, a watchdog).
struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Install the gateway as a systemd service.",
        subcommands: [Install.self]
    )

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Write a hardened systemd unit for this home (system-wide, or --user for your own manager)."
        )
        @OptionGroup var options: HomeOptions
        @Flag(help: "A unit for your user's service manager (~/.config/systemd/user).") var user = false
        @Option(help: "Where to write the unit (default: /etc/systemd/system, or ~/.config/systemd/user).")
        var unitDirectory: String?
        @Option(help: "The service's memory limit (systemd MemoryMax).") var memoryMax = "2G"
        @Flag(help: "Print the unit instead of writing it.") var print = false

        func run() async throws {
            try await report {
                let home = options.resolved
                let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
                    .resolvingSymlinksInPath()
                let path =
                    executable.path.hasPrefix("/")
                    ? executable.path
                    : FileManager.default.currentDirectoryPath + "/" + executable.path
                guard memoryMax.range(of: "^[0-9]+[KMGT]?$", options: .regularExpression) != nil else {
                    throw CLIError("--memory-max takes a size like 512M or 2G", exitCode: 2)
                }
                let unit = ServiceCommand.unit(executable: path, home: home.root.path, user: user, memoryMax: memoryMax)
                if self.print {
                    Swift.print(unit, terminator: "")
                    return
                }
                let directory =
                    unitDirectory
                    ?? (user
                        ? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".config/systemd/user")
                            .path
                        : "/etc/systemd/system")
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let file = URL(fileURLWithPath: directory).appendingPathComponent("osprey.service")
                do {
                    try unit.write(to: file, atomically: true, encoding: .utf8)
                } catch {
                    throw CLIError(
                        "cannot write \(file.path): \(error.localizedDescription) (system units need root; try --user)"
                    )
                }
                let control = user ? "systemctl --user" : "systemctl"
                Swift.print(file.path)
                FileHandle.standardError.write(
                    Data("now run: \(control) daemon-reload && \(control) enable --now osprey.service\n".utf8)
                )
            }
        }
    }

    /// The unit: `Type=notify` with a watchdog, restarted on failure, and confined: no new privileges, the file
    /// system read-only but for the home, a private /tmp, only the address families the gateway uses, the system
    /// calls of a service (plus what bubblewrap needs to build a command's sandbox), a memory limit.
    static func unit(executable: String, home: String, user: Bool, memoryMax: String) -> String {
        """
        [Unit]
        Description=Osprey agent gateway (\(home))
        Documentation=https://github.com/osprey/osprey
        After=network-online.target
        Wants=network-online.target

        [Service]
        Type=notify
        NotifyAccess=main
        ExecStart=\(executable) gateway --home \(home)
        Restart=on-failure
        RestartSec=2
        WatchdogSec=30
        TimeoutStopSec=30
        NoNewPrivileges=yes
        ProtectSystem=strict
        ProtectHome=read-only
        ReadWritePaths=\(home)
        PrivateTmp=yes
        ProtectKernelTunables=yes
        ProtectKernelModules=yes
        ProtectClock=yes
        LockPersonality=yes
        RestrictRealtime=yes
        RestrictSUIDSGID=yes
        RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
        SystemCallArchitectures=native
        SystemCallFilter=@system-service
        SystemCallFilter=@mount unshare setns pivot_root
        MemoryMax=\(memoryMax)
        LimitNOFILE=65536

        [Install]
        WantedBy=\(user ? "default.target" : "multi-user.target")

        """
    }
}
