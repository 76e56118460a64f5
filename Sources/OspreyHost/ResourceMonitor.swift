public import Foundation
public import OspreyCore

#if canImport(Glibc)
import Glibc
#endif

/// One reading of the gateway's own and the host's resources.
public struct ResourceSample: Sendable, Equatable {
    public init(
        at: Date,
        rssBytes: Int,
        cpuPercent: Double,
        descriptors: Int,
        descriptorLimit: Int,
        hostMemoryPercent: Double,
        load1: Double,
        cores: Int,
        diskPercent: Double
    ) {
        self.at = at
        self.rssBytes = rssBytes
        self.cpuPercent = cpuPercent
        self.descriptors = descriptors
        self.descriptorLimit = descriptorLimit
        self.hostMemoryPercent = hostMemoryPercent
        self.load1 = load1
        self.cores = cores
        self.diskPercent = diskPercent
    }

    public var at: Date
    /// The gateway's resident memory.
    public var rssBytes: Int
    /// The gateway's CPU use since the last sample, in percent of one core.
    public var cpuPercent: Double
    public var descriptors: Int
    public var descriptorLimit: Int
    public var hostMemoryPercent: Double
    public var load1: Double
    public var cores: Int
    /// How full the home's file system is.
    public var diskPercent: Double

    public var json: JSONValue {
        [
            "at": .string(WireFormat.timestamp(at)), "rss_bytes": .int(rssBytes), "cpu_percent": .double(cpuPercent),
            "descriptors": .int(descriptors), "descriptor_limit": .int(descriptorLimit),
            "host_memory_percent": .double(hostMemoryPercent), "load1": .double(load1), "cores": .int(cores),
            "disk_percent": .double(diskPercent),
        ]
    }
}

/// How much pressure a sample shows against `[resources]`'s thresholds.
public struct ResourceVerdict: Sendable, Equatable {
    public enum Level: String, Sendable, Comparable {
        case normal, pressure, critical
        var rank: Int { self == .normal ? 0 : self == .pressure ? 1 : 2 }
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rank < rhs.rank }
    }

    public var level: Level
    /// What is over its limit, in words.
    public var reasons: [String]

    public init(level: Level, reasons: [String]) {
        self.level = level
        self.reasons = reasons
    }

    /// Judges `sample` against the thresholds (a pure function, tested on made-up samples).
    public static func judge(_ sample: ResourceSample, _ limits: OspreyConfig.Resources) -> ResourceVerdict {
        var soft: [String] = []
        var hard: [String] = []
        if limits.rssHardMB > 0, sample.rssBytes > limits.rssHardMB << 20 {
            hard.append("gateway memory \(sample.rssBytes >> 20) MB over rss_hard_mb \(limits.rssHardMB)")
        }
        if limits.rssSoftMB > 0, sample.rssBytes > limits.rssSoftMB << 20 {
            soft.append("gateway memory \(sample.rssBytes >> 20) MB over rss_soft_mb \(limits.rssSoftMB)")
        }
        if sample.hostMemoryPercent > Double(limits.memoryPercent) {
            soft.append("host memory \(Int(sample.hostMemoryPercent))% used, over \(limits.memoryPercent)%")
        }
        if sample.diskPercent > Double(limits.diskPercent) {
            soft.append("the home's disk \(Int(sample.diskPercent))% full, over \(limits.diskPercent)%")
        }
        if sample.descriptorLimit > 0,
            Double(sample.descriptors) / Double(sample.descriptorLimit) * 100 > Double(limits.descriptorsPercent)
        {
            soft.append("\(sample.descriptors) of \(sample.descriptorLimit) descriptors open")
        }
        if limits.loadPerCore > 0, sample.cores > 0, sample.load1 / Double(sample.cores) > limits.loadPerCore {
            soft.append("load \(sample.load1) over \(limits.loadPerCore) per core")
        }
        if !hard.isEmpty { return ResourceVerdict(level: .critical, reasons: hard + soft) }
        return ResourceVerdict(level: soft.isEmpty ? .normal : .pressure, reasons: soft)
    }
}

/// Reads the gateway's and the host's resources from `/proc` and the file system.
public struct ResourceMonitor: Sendable {
    let home: String
    /// Read once: Foundation's count reads the cgroup's quota files, and the guard samples an idle gateway.
    let cores = ProcessInfo.processInfo.activeProcessorCount
    public init(home: String) { self.home = home }

    /// A sample; `previous` (with its process CPU ticks) gives the CPU use between the two.
    public func sample(previous: (at: Date, ticks: Int)?) -> (ResourceSample, ticks: Int) {
        let now = Date()
        let statm = (HostReadings.read("/proc/self/statm") ?? "").split(separator: " ")
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let rss = (statm.count > 1 ? Int(statm[1]) ?? 0 : 0) * pageSize
        let ticks = HostReadings.read("/proc/self/stat").flatMap(HostReadings.processStat)?.ticks ?? 0
        var cpu = 0.0
        if let previous, now > previous.at {
            let seconds = now.timeIntervalSince(previous.at)
            cpu = Double(ticks - previous.ticks) / Double(sysconf(Int32(_SC_CLK_TCK))) / seconds * 100
        }
        // Less the one the count itself holds open.
        let descriptors = max(0, (HostReadings.entries("/proc/self/fd") ?? 1) - 1)
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let memory = HostReadings.meminfo(HostReadings.read("/proc/meminfo") ?? "")
        let total = Double(memory["MemTotal"] ?? 0)
        let available = Double(memory["MemAvailable"] ?? 0)
        let load = (HostReadings.read("/proc/loadavg") ?? "").split(separator: " ").first.flatMap { Double($0) } ?? 0
        var disk = statvfs()
        var diskPercent = 0.0
        if statvfs(home, &disk) == 0, disk.f_blocks > 0 {
            diskPercent = (1 - Double(disk.f_bavail) / Double(disk.f_blocks)) * 100
        }
        let sample = ResourceSample(
            at: now,
            rssBytes: rss,
            cpuPercent: (max(0, cpu) * 10).rounded() / 10,
            descriptors: descriptors,
            descriptorLimit: Int(limit.rlim_cur),
            hostMemoryPercent: total > 0 ? ((total - available) / total * 1000).rounded() / 10 : 0,
            load1: load,
            cores: cores,
            diskPercent: (diskPercent * 10).rounded() / 10
        )
        return (sample, ticks)
    }
}
