public import Glibc

/// A TCP socket to an IPv4 address, for raw loopback probes (`osprey doctor`'s port check, the start-up benchmark's
/// `/health` probe) that must not pull an HTTP client in.
public enum IPv4Socket {
    /// Opens a socket, hands it and the address to `body`, and closes it afterwards; nil if no socket could be made.
    public static func open<R>(
        host: String,
        port: Int,
        _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> R
    ) -> R? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    /// Whether something accepts TCP connections on `host`:`port` (a server that finished starting).
    public static func accepts(host: String = "127.0.0.1", port: Int) -> Bool {
        open(host: host, port: port) { descriptor, address, length in connect(descriptor, address, length) == 0 }
            ?? false
    }
}
