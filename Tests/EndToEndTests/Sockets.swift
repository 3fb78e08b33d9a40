import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Loopback ports for tests.
enum FreePort {
    /// A socket bound to 127.0.0.1 on a port the kernel chose, and that port.
    static func boundSocket() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)  // see RawClient
        guard fd >= 0 else { throw HarnessError.io("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { let error = errno; close(fd); throw HarnessError.io("bind: \(error)") }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A port nothing listens on right now (bound by the kernel's choice, then released).
    static func pick() throws -> Int {
        let (fd, port) = try boundSocket()
        close(fd)
        return port
    }
}

extension RawClient {
    enum ReadOutcome { case bytes, closed, timedOut }

    /// What the next read shows: more bytes, the peer's close (FIN or reset),
    /// or nothing before the receive timeout.
    func nextRead() -> ReadOutcome {
        var byte: UInt8 = 0
        for _ in 0..<5 {
            let count = recv(fd, &byte, 1, 0)
            if count > 0 { return .bytes }
            if count == 0 || errno == ECONNRESET { return .closed }
            if errno != EINTR { break }
        }
        return .timedOut
    }

    /// Everything the peer sends, and whether it then closed (rather than the
    /// receive timeout running out).
    func readUntilClosed() -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<1000 {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 { received += chunk[0..<count]; continue }
            let closed = count == 0 || errno == ECONNRESET
            if !closed && errno == EINTR { continue }
            return (String(decoding: received, as: UTF8.self), closed)
        }
        return (String(decoding: received, as: UTF8.self), false)
    }
}
