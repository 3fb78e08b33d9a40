import ProxyHTTP
import ProxyUV

/// One connection to the upstream with its response parser. While a request
/// uses it, that request's client connection is the delegate of both; while
/// it sits in the pool, the pool watches it.
final class UpstreamConnection {
    let stream: Stream
    let parser: HTTPParser
    /// When it entered the idle pool (loop milliseconds).
    var idleSince: UInt64 = 0
    var requestsServed = 0

    init(stream: Stream, limits: HeadLimits) {
        self.stream = stream
        // Upstream heads get generous limits: a runtime's cookies or redirects
        // may be long, and a bad upstream still hits a bound (502).
        parser = HTTPParser(kind: .response, limits: HeadLimits(maxTargetBytes: limits.maxTargetBytes,
                                                                maxHeaderBytes: max(limits.maxHeaderBytes, 64 * 1024),
                                                                maxHeaderCount: max(limits.maxHeaderCount, 200)))
    }

    func close() {
        parser.delegate = nil
        stream.close()
    }
}
