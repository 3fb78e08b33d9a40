/// How a body is delimited on one hop.
public enum BodyFraming: Sendable, Equatable {
    /// No body (HEAD, 1xx, 204, 304, or a request without one).
    case none
    /// `Content-Length` bytes, passed as they are.
    case contentLength
    /// `Transfer-Encoding: chunked`, written by this proxy.
    case chunked
    /// The body ends when the connection closes (HTTP/1.0 clients only).
    case untilClose

    /// The framing of a request going upstream: its length if it had one,
    /// chunked otherwise when it has a body.
    public static func forRequest(_ request: MessageHead) -> BodyFraming {
        if request.isChunked { return .chunked }
        if let length = request.contentLength { return length > 0 ? .contentLength : .none }
        return .none
    }

    /// The framing of a response going to the client. A response whose length
    /// is known keeps it; one delimited by chunks or by close is re-chunked for
    /// HTTP/1.1 clients and sent until close to HTTP/1.0 ones.
    public static func forResponse(_ response: MessageHead, to requestMethod: HTTPMethod, clientIsHTTP10: Bool) -> BodyFraming {
        let status = response.statusCode
        if requestMethod == .head || (100..<200).contains(status) || status == 204 || status == 304 { return .none }
        if !response.isChunked, response.contentLength != nil { return .contentLength }
        return clientIsHTTP10 ? .untilClose : .chunked
    }
}

/// `Transfer-Encoding: chunked` framing for bodies this proxy re-frames.
public enum ChunkedEncoding {
    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)
    public static let chunkEnd: [UInt8] = [0x0D, 0x0A]

    /// Writes `<hex size>\r\n` into `out` (replacing its contents).
    public static func chunkHeader(size: Int, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        precondition(size > 0, "a zero-size chunk would end the body")
        var shift = (Int.bitWidth - size.leadingZeroBitCount - 1) / 4 * 4
        while shift >= 0 {
            let digit = UInt8((size >> shift) & 0xF)
            out.append(digit < 10 ? 0x30 + digit : 0x57 + digit)
            shift -= 4
        }
        out.append(0x0D)
        out.append(0x0A)
    }
}
