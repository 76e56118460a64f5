public import Foundation
public import OspreyStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under the system temp dir, removed by ``remove()``.
public struct TemporaryDirectory: Sendable {
    public let url: URL

    public init(prefix: String = "osprey-test") throws {
        url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "\(prefix)-\(UUID().uuidString.prefix(8))"
        )
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public var path: String { url.path }

    public func remove() { try? FileManager.default.removeItem(at: url) }
}

/// The next port ``freeLoopbackPort()`` tries, from a random start so two test processes rarely meet.
private let nextTestPort = Mutex(20_000 + Int.random(in: 0..<5_000))

/// A TCP port on 127.0.0.1 that is free now and that this process has not handed out before.
///
/// Taken from 20000-29999, below Linux's ephemeral range (32768-60999), where the code under test picks its own
/// ports with bind(0) (the local model server, for one): a port a test chose for a server of its own is then never
/// the one the gateway picks while that server starts.
public func freeLoopbackPort() -> Int {
    for _ in 0..<10_000 {
        let port = nextTestPort.withLock { next -> Int in
            defer { next = next >= 29_999 ? 20_000 : next + 1 }
            return next
        }
        if canBind(port) { return port }
    }
    return 0
}

/// Whether 127.0.0.1:`port` can be bound now.
private func canBind(_ port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

extension URL {
    /// Writes a test's fixture file `name` with `content` into this directory, atomically.
    public func writeFile(_ name: String, _ content: String) throws {
        try Data(content.utf8).write(to: appendingPathComponent(name), options: .atomic)
    }
}

extension TemporaryDirectory {
    /// A SQLite store in this directory's `osprey.db` (opened again by a second call, with the same `ledgerKey`).
    public func store(
        ledgerKey: [UInt8] = Array(repeating: 7, count: 32),
        durability: Store.Durability = .normal
    ) throws -> Store {
        try Store.open(path: url.appendingPathComponent("osprey.db").path, ledgerKey: ledgerKey, durability: durability)
    }
}
