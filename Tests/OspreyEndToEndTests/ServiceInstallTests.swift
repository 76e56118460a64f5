import Foundation
import OspreyCore
import OspreyTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `osprey service install` writes a unit systemd accepts, and the gateway speaks sd_notify to it.
@Suite(.serialized)
struct ServiceInstallTests {
    let osprey: OspreyExecutable
    init() throws { osprey = try OspreyExecutable.locate() }

    @Test func theUnitIsHardenedAndSystemdAnalyzeAcceptsIt() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-service")
        defer { home.remove() }
        let units = home.url.appendingPathComponent("units")
        let installed = try await osprey.run(
            ["service", "install", "--user", "--unit-directory", units.path, "--memory-max", "1G", "--home", home.path]
        )
        #expect(installed.status == 0, "\(installed.stderr)")
        let file = units.appendingPathComponent("osprey.service")
        let unit = try String(contentsOf: file, encoding: .utf8)
        for line in [
            "Type=notify", "WatchdogSec=30", "NoNewPrivileges=yes", "ProtectSystem=strict",
            "ReadWritePaths=\(home.path)",
            "PrivateTmp=yes", "SystemCallFilter=@system-service", "MemoryMax=1G", "WantedBy=default.target",
            "ExecStart=\(URL(fileURLWithPath: osprey.path).resolvingSymlinksInPath().path) gateway --home \(home.path)",
        ] {
            #expect(unit.contains(line + "\n"), "\(line)")
        }
        let bad = try await osprey.run(["service", "install", "--print", "--memory-max", "lots", "--home", home.path])
        #expect(bad.status == 2)
        guard
            let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first(
                where: FileManager.default.isExecutableFile(atPath:)
            )
        else {
            Issue.record("systemd-analyze is not installed: the unit was not checked by systemd")
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: analyze)
        process.arguments = ["verify", "--man=no", file.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let complaints = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // Only complaints about this unit count (a container without a running systemd may mention others).
        let ours = complaints.split(separator: "\n").filter { $0.contains("osprey.service") }
        #expect(ours.isEmpty, "\(complaints)")
    }

    @Test func theGatewayTellsSystemdReadyWatchdogAndStopping() async throws {
        let home = try TemporaryDirectory(prefix: "osprey-notify")
        defer { home.remove() }
        try CLITests.configure(home, server: CLITests.ownMockModel())
        let socketPath = home.url.appendingPathComponent("notify.sock").path
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(socketPath.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        func receive() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(descriptor, &buffer, buffer.count, 0)
            return count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : nil
        }
        let gateway = try await osprey.startGateway(
            home: home.path,
            port: freeLoopbackPort(),
            environment: ["NOTIFY_SOCKET": socketPath, "WATCHDOG_USEC": "400000"]
        )
        defer { gateway.kill() }
        var heard: [String] = []
        while heard.filter({ $0 == "WATCHDOG=1" }).count < 2, let message = receive() { heard.append(message) }
        #expect(heard.contains { $0.hasPrefix("READY=1\nSTATUS=listening on http://127.0.0.1:") }, "\(heard)")
        #expect(heard.filter { $0 == "WATCHDOG=1" }.count == 2, "\(heard)")
        // A graceful stop says so before the process ends
        #expect(await gateway.stop() == 0)
        var stopping = false
        while let message = receive() {
            if message == "STOPPING=1" {
                stopping = true
                break
            }
        }
        #expect(stopping)
    }
}
