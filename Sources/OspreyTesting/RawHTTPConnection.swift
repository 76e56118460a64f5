import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection to a loopback port, for sending bytes no HTTP client would send (malformed requests,
/// non-canonical paths, forged Host headers), reading exactly what the server answers, or reading nothing for a while
/// (a client that stops reading a stream).
///
/// Its socket calls block, so they run on a dispatch queue: blocking a cooperative thread would starve the very
/// server under test, whose handlers run on that pool.
public final class RawHTTPConnection: @unchecked Sendable {  // the descriptor is used by one call at a time
    private let descriptor: Int32

    public init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw RawHTTPError.socket(errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(descriptor)
            throw RawHTTPError.connect(errno)
        }
    }

    deinit { close(descriptor) }

    /// Sends all of `bytes`; false if the server closed the connection first.
    @discardableResult
    public func send(_ bytes: [UInt8]) async -> Bool {
        await Self.offPool { self.sendBlocking(bytes) }
    }

    @discardableResult
    public func send(_ text: String) async -> Bool { await send(Array(text.utf8)) }

    /// Reads until the server closes or `timeout` passes; `closed` says which.
    public func readAll(timeout: Double = 5) async -> (text: String, closed: Bool) {
        await Self.offPool { self.readBlocking(timeout: timeout) }
    }

    /// Reads until `marker` has arrived, the server closes, or `timeout` passes.
    public func read(until marker: String, timeout: Double) async -> String {
        await Self.offPool { self.readBlocking(timeout: timeout, until: marker).text }
    }

    private static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }

    private func sendBlocking(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    private func readBlocking(timeout: Double, until marker: String? = nil) -> (text: String, closed: Bool) {
        var data = [UInt8]()
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while Date() < deadline {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000)))
            if ready <= 0 { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { return (String(decoding: data, as: UTF8.self), true) }
            data += buffer[0..<count]
            // Only the bytes that could hold a new match are searched: a long stream is read in one pass.
            if let marker, String(decoding: data.suffix(count + marker.utf8.count), as: UTF8.self).contains(marker) {
                break
            }
        }
        return (String(decoding: data, as: UTF8.self), false)
    }

    /// The status code of the first response in `text`, or nil.
    public static func status(_ text: String) -> Int? {
        guard text.hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }
}

public enum RawHTTPError: Error {
    case socket(Int32)
    case connect(Int32)
}
