import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain blocking TCP client on loopback, for tests that need exact bytes
/// on the wire (pipelining, malformed requests, half-sent bodies).
final class RawClient {
    let fd: Int32
    private var buffered: [UInt8] = []

    init(port: Int, receiveTimeout: TimeInterval = 20) throws {
        // Close-on-exec: a process another test starts meanwhile must not
        // inherit it, or the connection outlives this client (ChildProcess
        // closes the rest in the child too).
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard socketFD >= 0 else { throw HarnessError.io("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        // Closed here, before `fd` is set: once every stored property is
        // set, a throwing init runs deinit, which would close the number a
        // second time (by then perhaps another thread's new socket).
        guard result == 0 else {
            let error = errno
            close(socketFD)
            throw HarnessError.io("connect: \(error)")
        }
        fd = socketFD
        setReceiveTimeout(receiveTimeout)
    }

    /// How long a read waits (fractions of a second too).
    func setReceiveTimeout(_ seconds: TimeInterval) {
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw HarnessError.io("send: \(errno)") }
            offset += sent
        }
    }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads more bytes; returns false at end of stream or on timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return false }
        buffered.append(contentsOf: chunk[0..<count])
        return true
    }

    /// Everything until the server closes (or the receive timeout).
    func readToEnd() -> String {
        while fill() {}
        defer { buffered.removeAll() }
        return String(decoding: buffered, as: UTF8.self)
    }

    /// Reads until the bytes received so far contain `text`; returns them
    /// (and keeps them for later reads), or nil at end of stream or timeout.
    func readUntil(contains text: String) -> String? {
        let needle = Array(text.utf8)
        while true {
            if buffered.count >= needle.count,
               (0...(buffered.count - needle.count)).contains(where: { buffered[$0..<$0 + needle.count].elementsEqual(needle) }) {
                return String(decoding: buffered, as: UTF8.self)
            }
            guard fill() else { return nil }
        }
    }

    /// Drops `count` bytes already received.
    func discard(_ count: Int) { buffered.removeFirst(min(count, buffered.count)) }

    /// True if the server closed the connection (end of stream, or reset);
    /// false if bytes arrive or the receive timeout passes first.
    func isClosedByPeer() -> Bool {
        guard buffered.isEmpty else { return false }
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, 0)
        if count > 0 { buffered.append(byte); return false }
        return count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
    }

    struct Response {
        var status: Int
        var head: String
        var body: [UInt8]
        var bodyText: String { String(decoding: body, as: UTF8.self) }

        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    /// Reads one response: by Content-Length, chunked, or until close.
    func readResponse(requestMethod: String = "GET") throws -> Response {
        var headEnd: Int?
        while headEnd == nil {
            if let range = findHeadEnd() { headEnd = range; break }
            guard fill() else { throw HarnessError.io("closed before a response head: \(String(decoding: buffered, as: UTF8.self))") }
        }
        let head = String(decoding: buffered[0..<headEnd!], as: UTF8.self)
        buffered.removeFirst(headEnd! + 4)
        let statusText = head.split(separator: " ", maxSplits: 2).dropFirst().first ?? "0"
        var response = Response(status: Int(statusText) ?? 0, head: head, body: [])
        if requestMethod == "HEAD" || response.status == 204 || response.status == 304 || response.status < 200 {
            return response
        }
        if let length = response.header("Content-Length").flatMap(Int.init) {
            while buffered.count < length { guard fill() else { throw HarnessError.io("short body") } }
            response.body = Array(buffered[0..<length])
            buffered.removeFirst(length)
        } else if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while true {
                let line = try readLine()
                guard let size = Int(line.split(separator: ";")[0], radix: 16) else { throw HarnessError.io("bad chunk size \(line)") }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                while buffered.count < size + 2 { guard fill() else { throw HarnessError.io("short chunk") } }
                response.body += buffered[0..<size]
                buffered.removeFirst(size + 2)
            }
        } else {
            while fill() {}
            response.body = buffered
            buffered.removeAll()
        }
        return response
    }

    private func readLine() throws -> String {
        while true {
            if let index = buffered.firstIndex(of: 0x0A) {
                let line = String(decoding: buffered[0..<index], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
                buffered.removeFirst(index + 1)
                return line
            }
            guard fill() else { throw HarnessError.io("closed mid-line") }
        }
    }

    private func findHeadEnd() -> Int? {
        guard buffered.count >= 4 else { return nil }
        for index in 0...(buffered.count - 4)
        where buffered[index] == 13 && buffered[index + 1] == 10 && buffered[index + 2] == 13 && buffered[index + 3] == 10 {
            return index
        }
        return nil
    }
}
