public import Foundation
public import OspreyCore

#if canImport(Glibc)
import Glibc
#endif

/// What the host's kernel says about itself, read from `/proc`, `/sys` and `/etc`, as JSON the model and the
/// dashboard both read. The parsers are pure functions of the files' text (tested on fixtures); the readers are
/// blocking and run off the cooperative pool (``Workspace/offload(_:)``).
public enum HostReadings {
    /// `/proc/meminfo` values, in bytes.
    public static func meminfo(_ text: String) -> [String: Int] {
        var values: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " })
            guard parts.count >= 2, let number = Int(parts[1]) else { continue }
            values[String(parts[0])] = number * (parts.count > 2 && parts[2] == "kB" ? 1024 : 1)
        }
        return values
    }

    /// The aggregate `cpu` line of `/proc/stat`: (busy, total) jiffies.
    public static func cpuTimes(_ text: String) -> (busy: Int, total: Int)? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { Int($0) }
        guard fields.count >= 4 else { return nil }
        let idle = fields[3] + (fields.count > 4 ? fields[4] : 0)
        let total = fields.prefix(8).reduce(0, +)
        return (total - idle, total)
    }

    /// One `/proc/PID/stat` line: pid, name, state, ppid, CPU ticks (user + system), RSS pages, start ticks.
    public struct ProcessStat: Equatable, Sendable {
        public var pid: Int
        public var name: String
        public var state: String
        public var ppid: Int
        public var ticks: Int
        public var rssPages: Int
        public var startTicks: Int
    }

    public static func processStat(_ text: String) -> ProcessStat? {
        // The name is in parentheses and may hold spaces or parentheses: it ends at the last ')'.
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"),
            let pid = Int(String(text[..<open].filter { $0 != " " }))
        else { return nil }
        let rest = text[text.index(after: close)...].split(separator: " ")
        guard rest.count > 21, let ppid = Int(rest[1]), let user = Int(rest[11]), let system = Int(rest[12]),
            let start = Int(rest[19]), let rss = Int(rest[21])
        else { return nil }
        return ProcessStat(
            pid: pid,
            name: String(text[text.index(after: open)..<close]),
            state: String(rest[0]),
            ppid: ppid,
            ticks: user + system,
            rssPages: rss,
            startTicks: start
        )
    }

    /// A listening socket of `/proc/net/tcp` or `tcp6` (state 0A) or a bound UDP socket: address, port, inode.
    public struct Socket: Equatable, Sendable {
        public var address: String
        public var port: Int
        public var inode: Int
    }

    public static func listening(_ text: String, udp: Bool = false) -> [Socket] {
        text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 9, udp || fields[3] == "0A" else { return nil }
            let local = fields[1].split(separator: ":")
            guard local.count == 2, let port = Int(local[1], radix: 16), let inode = Int(fields[9]) else { return nil }
            if udp && fields[3] != "07" { return nil }
            return Socket(address: address(hex: String(local[0])), port: port, inode: inode)
        }
    }

    /// A `/proc/net` address (little-endian words) as text.
    static func address(hex: String) -> String {
        let bytes = stride(from: 0, to: hex.count, by: 2).compactMap { offset -> UInt8? in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)
        }
        // Each 32-bit word is in host (little-endian) order.
        var ordered: [UInt8] = []
        for word in stride(from: 0, to: bytes.count, by: 4) {
            ordered += bytes[word..<min(word + 4, bytes.count)].reversed()
        }
        if ordered.count == 4 { return ordered.map(String.init).joined(separator: ".") }
        guard ordered.count == 16 else { return hex }
        var storage = in6_addr()
        withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: ordered) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        return inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count)) == nil
            ? hex : String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `/proc/net/route`: destination, gateway, interface.
    public static func routes(_ text: String) -> [JSONValue] {
        text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count > 7 else { return nil }
            return [
                "interface": .string(String(fields[0])), "destination": .string(address(hex: String(fields[1]))),
                "gateway": .string(address(hex: String(fields[2]))),
                "mask": .string(address(hex: String(fields[7]))),
            ]
        }
    }

    /// `nameserver` and `search` of `/etc/resolv.conf`.
    public static func resolver(_ text: String) -> JSONValue {
        var servers: [JSONValue] = []
        var search: [JSONValue] = []
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.first == "nameserver", words.count > 1 { servers.append(.string(String(words[1]))) }
            if words.first == "search" { search += words.dropFirst().map { .string(String($0)) } }
        }
        return ["nameservers": .array(servers), "search": .array(search)]
    }

    /// Installed packages of dpkg's `status` file: name → version.
    public static func packages(_ text: String) -> [(name: String, version: String)] {
        text.components(separatedBy: "\n\n").compactMap { stanza in
            var name: String?
            var version: String?
            var installed = false
            for line in stanza.split(separator: "\n") {
                if line.hasPrefix("Package: ") { name = String(line.dropFirst(9)) }
                if line.hasPrefix("Version: ") { version = String(line.dropFirst(9)) }
                if line.hasPrefix("Status: ") { installed = line.hasSuffix(" installed") }
            }
            guard let name, let version, installed else { return nil }
            return (name, version)
        }
    }

    // MARK: Readers (blocking)

    /// A file's text (nil if it cannot be read or is not UTF-8), read with the system's calls: the resource guard
    /// reads `/proc` every few seconds of an idle gateway, and Foundation's file reading would keep pages of its
    /// code resident for it.
    static func read(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// How many entries a directory has (`.` and `..` aside), or nil if it cannot be read.
    static func entries(_ path: String) -> Int? { DirectoryNames.of(path)?.count }

    /// CPU, load, memory, swap, disks, uptime and temperatures; the CPU's use is measured over `sample`.
    public static func health(sample: Duration = .milliseconds(200)) -> JSONValue {
        let before = read("/proc/stat").flatMap(cpuTimes)
        Thread.sleep(forTimeInterval: sample.timeInterval)
        let after = read("/proc/stat").flatMap(cpuTimes)
        var cpu: [String: JSONValue] = ["cores": .int(ProcessInfo.processInfo.activeProcessorCount)]
        if let before, let after, after.total > before.total {
            cpu["usage_percent"] = .double(
                (Double(after.busy - before.busy) / Double(after.total - before.total) * 1000).rounded() / 10
            )
        }
        let load = (read("/proc/loadavg") ?? "").split(separator: " ").prefix(3).compactMap { Double($0) }
        cpu["load"] = .array(load.map(JSONValue.double))
        let memory = meminfo(read("/proc/meminfo") ?? "")
        func usage(_ total: String, _ free: String) -> JSONValue {
            let total = memory[total] ?? 0
            let free = memory[free] ?? 0
            return [
                "total_bytes": .int(total), "available_bytes": .int(free),
                "used_percent": .double(total > 0 ? (Double(total - free) / Double(total) * 1000).rounded() / 10 : 0),
            ]
        }
        let uptime = (read("/proc/uptime") ?? "").split(separator: " ").first.flatMap { Double($0) } ?? 0
        return [
            "cpu": .object(cpu), "memory": usage("MemTotal", "MemAvailable"), "swap": usage("SwapTotal", "SwapFree"),
            "disks": .array(disks()), "uptime_seconds": .int(Int(uptime)), "temperatures": .array(temperatures()),
        ]
    }

    /// Mounted real file systems with their size and free space.
    static func disks() -> [JSONValue] {
        let virtual: Set<String> = [
            "proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup", "cgroup2", "securityfs", "pstore", "debugfs",
            "tracefs", "mqueue", "hugetlbfs", "configfs", "fusectl", "bpf", "binfmt_misc", "autofs", "nsfs", "overlay",
            "squashfs", "rpc_pipefs", "efivarfs",
        ]
        var seen: Set<String> = []
        return (read("/proc/mounts") ?? "").split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 2, !virtual.contains(String(fields[2])), seen.insert(String(fields[1])).inserted
            else { return nil }
            var stats = statvfs()
            guard statvfs(String(fields[1]), &stats) == 0, stats.f_blocks > 0 else { return nil }
            let total = Int(stats.f_blocks) * Int(stats.f_frsize)
            let free = Int(stats.f_bavail) * Int(stats.f_frsize)
            return [
                "mount": .string(String(fields[1])), "type": .string(String(fields[2])), "total_bytes": .int(total),
                "free_bytes": .int(free),
                "used_percent": .double((Double(total - free) / Double(total) * 1000).rounded() / 10),
            ]
        }
    }

    static func temperatures() -> [JSONValue] {
        let zones = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/thermal")) ?? []
        return zones.filter { $0.hasPrefix("thermal_zone") }.sorted().compactMap { zone in
            guard
                let raw = read("/sys/class/thermal/\(zone)/temp").flatMap({
                    Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
                })
            else { return nil }
            let type = read("/sys/class/thermal/\(zone)/type")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? zone
            return ["zone": .string(type), "celsius": .double(Double(raw) / 1000)]
        }
    }

    /// Every process: its stat, owner, command line, and CPU use over `sample`.
    public static func processes(sample: Duration = .milliseconds(200)) -> [JSONValue] {
        func snapshot() -> [Int: ProcessStat] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            var table: [Int: ProcessStat] = [:]
            for name in names where Int(name) != nil {
                if let stat = read("/proc/\(name)/stat").flatMap(processStat) { table[stat.pid] = stat }
            }
            return table
        }
        let first = snapshot()
        Thread.sleep(forTimeInterval: sample.timeInterval)
        let second = snapshot()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let seconds = sample.timeInterval
        return second.values.sorted { $0.pid < $1.pid }.map { stat in
            let used = Double(stat.ticks - (first[stat.pid]?.ticks ?? stat.ticks)) / ticks / seconds * 100
            let owner = (read("/proc/\(stat.pid)/status") ?? "").split(separator: "\n")
                .first { $0.hasPrefix("Uid:") }?.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first
            let command = (read("/proc/\(stat.pid)/cmdline") ?? "").split(separator: "\0").joined(separator: " ")
            return [
                "pid": .int(stat.pid), "ppid": .int(stat.ppid), "name": .string(stat.name),
                "state": .string(stat.state),
                "uid": owner.flatMap { Int($0) }.map(JSONValue.int) ?? .null, "rss_bytes": .int(stat.rssPages * page),
                "cpu_seconds": .double((Double(stat.ticks) / ticks * 100).rounded() / 100),
                "cpu_percent": .double((max(0, used) * 10).rounded() / 10),
                "command": .string(String(command.prefix(300))),
            ]
        }
    }

    /// Interfaces (state, MAC, MTU, addresses), listening sockets with their owning process, routes and DNS.
    public static func network() -> JSONValue {
        var addresses: [String: [JSONValue]] = [:]
        var list: UnsafeMutablePointer<ifaddrs>?
        if getifaddrs(&list) == 0, let first = list {
            var cursor: UnsafeMutablePointer<ifaddrs>? = first
            while let entry = cursor {
                defer { cursor = entry.pointee.ifa_next }
                guard let address = entry.pointee.ifa_addr else { continue }
                let family = Int32(address.pointee.sa_family)
                guard family == AF_INET || family == AF_INET6 else { continue }
                var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                let length = socklen_t(
                    family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size
                )
                guard getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else {
                    continue
                }
                let name = String(cString: entry.pointee.ifa_name)
                addresses[name, default: []].append(
                    .string(String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                )
            }
            freeifaddrs(first)
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []).sorted()
        let interfaces = names.map { name -> JSONValue in
            let value = { (file: String) in
                read("/sys/class/net/\(name)/\(file)")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            }
            return [
                "name": .string(name), "state": .string(value("operstate")), "mac": .string(value("address")),
                "mtu": .int(Int(value("mtu")) ?? 0), "addresses": .array(addresses[name] ?? []),
            ]
        }
        let owners = socketOwners()
        var sockets: [JSONValue] = []
        for (file, protocolName, udp) in [
            ("tcp", "tcp", false), ("tcp6", "tcp6", false), ("udp", "udp", true), ("udp6", "udp6", true),
        ] {
            for socket in listening(read("/proc/net/\(file)") ?? "", udp: udp) {
                var entry: [String: JSONValue] = [
                    "protocol": .string(protocolName), "address": .string(socket.address), "port": .int(socket.port),
                ]
                if let owner = owners[socket.inode] {
                    entry["pid"] = .int(owner.pid)
                    entry["process"] = .string(owner.name)
                }
                sockets.append(.object(entry))
            }
        }
        return [
            "interfaces": .array(interfaces), "listening": .array(sockets),
            "routes": .array(routes(read("/proc/net/route") ?? "")), "dns": resolver(read("/etc/resolv.conf") ?? ""),
        ]
    }

    /// Socket inode → the process holding it, for the processes whose descriptors this user may read.
    static func socketOwners() -> [Int: (pid: Int, name: String)] {
        var owners: [Int: (Int, String)] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for name in names {
            guard let pid = Int(name),
                let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(name)/fd")
            else { continue }
            let process = read("/proc/\(name)/comm")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? name
            for descriptor in descriptors {
                guard
                    let target = try? FileManager.default.destinationOfSymbolicLink(
                        atPath: "/proc/\(name)/fd/\(descriptor)"
                    ),
                    target.hasPrefix("socket:["), let inode = Int(target.dropFirst(8).dropLast())
                else { continue }
                owners[inode] = (pid, process)
            }
        }
        return owners
    }

    /// The largest directories under `root`, by the bytes of the regular files below them (symbolic links not
    /// followed, other file systems not entered), walking at most `limit` entries.
    public static func diskUsage(under root: String, depth: Int, top: Int, limit: Int) -> JSONValue {
        let base = URL(fileURLWithPath: root).standardizedFileURL
        var sizes: [String: Int] = [:]
        var walked = 0
        var total = 0
        let keys: [URLResourceKey] = [
            .isRegularFileKey, .totalFileAllocatedSizeKey, .fileSizeKey, .volumeIdentifierKey,
        ]
        let rootVolume = (try? base.resourceValues(forKeys: [.volumeIdentifierKey]))?.volumeIdentifier as? NSObject
        guard
            let walker = FileManager.default.enumerator(
                at: base,
                includingPropertiesForKeys: keys,
                options: [.skipsPackageDescendants],
                errorHandler: { _, _ in true }
            )
        else { return ["error": .string("cannot read \(root)")] }
        let prefix = base.path == "/" ? 0 : base.path.count
        for case let url as URL in walker {
            walked += 1
            if walked > limit { break }
            guard let values = try? url.resourceValues(forKeys: Set(keys)) else { continue }
            if let volume = values.volumeIdentifier as? NSObject, let rootVolume, !volume.isEqual(rootVolume) {
                walker.skipDescendants()
                continue
            }
            guard values.isRegularFile == true else { continue }
            let size = values.totalFileAllocatedSize ?? values.fileSize ?? 0
            total += size
            let relative = url.path.dropFirst(prefix).split(separator: "/").dropLast()
            for level in 1...max(1, depth) where relative.count >= level {
                let directory =
                    (base.path == "/" ? "" : base.path) + "/" + relative.prefix(level).joined(separator: "/")
                sizes[directory, default: 0] += size
            }
        }
        let largest = sizes.sorted { $0.value > $1.value }.prefix(top).map { entry -> JSONValue in
            ["path": .string(entry.key), "bytes": .int(entry.value)]
        }
        return [
            "root": .string(base.path), "total_bytes": .int(total), "largest": .array(Array(largest)),
            "entries_walked": .int(min(walked, limit)), "complete": .bool(walked <= limit),
        ]
    }
}
