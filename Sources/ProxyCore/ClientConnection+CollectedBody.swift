import ProxyHTTP
import ProxySystem

/// A chunked request body collected whole before it goes upstream
/// (`--buffer-request-body`), and the share of the server's budget it holds.
struct CollectedBody {
    var bytes: [UInt8] = []
    /// Reserved from `ProxyServer.bodyBudget`: the buffer's capacity.
    var reserved = 0
    /// The fields the upstream's head gets in place of the chunked framing.
    var fields: [UInt8] = []
}

/// Collecting a chunked request body, and sending it with its length.
extension ClientConnection {
    /// Keeps `bytes`, growing the buffer only with room in the server's budget
    /// (503 with Retry-After when there is none).
    func collect(_ bytes: RawSpan) {
        let needed = collected.bytes.count + bytes.byteCount
        if needed > collected.bytes.capacity {
            let limit = server.config.requestBodyBufferLimit ?? needed
            let capacity = max(needed, min(max(2 * collected.bytes.capacity, 4096), limit))
            guard server.bodyBudget.reserve(capacity - collected.reserved) else {
                machine.bodyBuffersFull()
                respondWithError(status: 503, detail: "request body buffers are full", keepClientOpen: false, retryAfter: true)
                return
            }
            collected.reserved = capacity
            collected.bytes.reserveCapacity(capacity)
        }
        collected.bytes.append(bytesOf: bytes)
    }

    /// The body is whole: the head goes upstream with `Content-Length`, then
    /// the body. Its buffer is let go (what the kernel does not take at once
    /// waits in the upstream stream's queue); the budget is given back when
    /// the exchange ends.
    func sendCollectedBody(contentLength: Int) {
        collected.fields.removeAll(keepingCapacity: true)
        collected.fields.append(contentsOf: Self.contentLengthName)
        HeadWriter.appendDecimal(contentLength, into: &collected.fields)
        collected.fields.append(contentsOf: Self.lineEnd)
        if requestID.madeHere { collected.fields.append(contentsOf: requestID.field) }
        if parser.head.contains(.cloudEvent), server.config.mapCloudEvents {
            collected.fields.append(contentsOf: CloudEventHeaders.kubelessFields(for: parser.head))
        }
        HeadWriter.writeRequest(parser.head, framing: .contentLength, forwarding: forwarding, extraFields: collected.fields,
                                moreFields: trace.madeHere ? trace.upstreamField : [], into: requestHead)
        attachUpstream(retrying: false)
        if !collected.bytes.isEmpty { upstream?.send(collected.bytes) }
        machine.collectedBodySent()
        collected.bytes = []
    }

    /// The exchange ended: its share of the budget goes back.
    func releaseCollectedBody() {
        collected.bytes = []
        server.bodyBudget.release(collected.reserved)
        collected.reserved = 0
    }

    private static let contentLengthName: [UInt8] = Array("Content-Length: ".utf8)
    private static let lineEnd: [UInt8] = [0x0D, 0x0A]
}
