import Testing
@testable import ProxyHTTP

/// How bodies are framed on each hop, and the chunk headers this proxy writes.
@Suite struct BodyFramingTests {
    // A request's framing upstream: chunked stays chunked, a positive length stays a length, otherwise no body.
    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", BodyFraming.none),
        ("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", .none),
        ("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", .contentLength),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .chunked),
        ("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", .contentLength),
        ("GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", .none),
    ])
    func forRequest(request: String, expected: BodyFraming) {
        #expect(BodyFraming.forRequest(parseHead(request)) == expected)
    }

    /// One row of the response decision table.
    struct ResponseCase: Sendable, CustomTestStringConvertible {
        var response: String
        var method: HTTPMethod = .get
        var clientIsHTTP10 = false
        var expected: BodyFraming
        var testDescription: String {
            "\(response.prefix(while: { $0 != "\r" })) to \(method)\(clientIsHTTP10 ? " from 1.0" : "") -> \(expected)"
        }
    }

    // Response framing to the client: none for HEAD/1xx/204/304, a known length kept, else chunked (1.1) or until close (1.0).
    @Test(arguments: [
        ResponseCase(response: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", method: .head, expected: .none),
        ResponseCase(response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", method: .head, expected: .none),
        ResponseCase(response: "HTTP/1.1 100 Continue\r\n\r\n", expected: .none),
        ResponseCase(response: "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", expected: .none),
        ResponseCase(response: "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", expected: .none),
        ResponseCase(response: "HTTP/1.1 204 No Content\r\n\r\n", expected: .none),
        ResponseCase(response: "HTTP/1.1 304 Not Modified\r\n\r\n", expected: .none),
        ResponseCase(response: "HTTP/1.1 304 Not Modified\r\n\r\n", clientIsHTTP10: true, expected: .none),
        ResponseCase(response: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", expected: .contentLength),
        ResponseCase(response: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", expected: .contentLength),
        ResponseCase(response: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", clientIsHTTP10: true, expected: .contentLength),
        ResponseCase(response: "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\n", method: .post, expected: .contentLength),
        ResponseCase(response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", expected: .chunked),
        ResponseCase(response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", clientIsHTTP10: true, expected: .untilClose),
        ResponseCase(response: "HTTP/1.1 200 OK\r\nContent-Type: a\r\n\r\n", expected: .chunked),
        ResponseCase(response: "HTTP/1.0 200 OK\r\nContent-Type: a\r\n\r\n", expected: .chunked),
        ResponseCase(response: "HTTP/1.1 200 OK\r\nContent-Type: a\r\n\r\n", clientIsHTTP10: true, expected: .untilClose),
        ResponseCase(response: "HTTP/1.1 500 Internal Server Error\r\n\r\n", clientIsHTTP10: true, expected: .untilClose),
    ])
    func forResponse(row: ResponseCase) {
        let head = parseHead(row.response, kind: .response)
        #expect(BodyFraming.forResponse(head, to: row.method, clientIsHTTP10: row.clientIsHTTP10) == row.expected)
    }

    // Chunk headers are lower-case hex without leading zeros, then CRLF.
    @Test(arguments: [(1, "1"), (9, "9"), (10, "a"), (15, "f"), (16, "10"), (255, "ff"), (4096, "1000"), (65536, "10000"),
                      (0xDEAD_BEEF, "deadbeef")])
    func chunkHeader(size: Int, hex: String) {
        var out = bytes("left over")
        ChunkedEncoding.chunkHeader(size: size, into: &out)
        #expect(String(decoding: out, as: UTF8.self) == hex + "\r\n")
    }

    // The last chunk and the chunk end are the fixed byte strings of RFC 9112 7.1.
    @Test func chunkConstants() {
        #expect(String(decoding: ChunkedEncoding.lastChunk, as: UTF8.self) == "0\r\n\r\n")
        #expect(String(decoding: ChunkedEncoding.chunkEnd, as: UTF8.self) == "\r\n")
    }

    // A body re-chunked with chunkHeader and parsed back by HTTPParser comes out as it went in.
    @Test func rechunkedBodyRoundTrips() {
        let pieces = [bytes("a"), Array(repeating: UInt8(ascii: "b"), count: 17), Array(repeating: UInt8(ascii: "c"), count: 300)]
        var wire = bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        var header: [UInt8] = []
        for piece in pieces {
            ChunkedEncoding.chunkHeader(size: piece.count, into: &header)
            wire += header + piece + ChunkedEncoding.chunkEnd
        }
        wire += ChunkedEncoding.lastChunk
        let run = parseSplitAtEveryBoundary(input: wire, kind: .response)
        #expect(run.error == nil)
        #expect(run.messages.first?.body == pieces.flatMap { $0 })
        #expect(run.messages.first?.isComplete == true)
    }
}
