/// Which protocol switches the proxy lets through (RFC 9110 7.8, 15.2.2;
/// RFC 6455 4.2.2; RFC 9113 3.1). A tunnel is opened only for a switch the
/// client asked for, to the protocol it asked for; `h2c` never: through a
/// proxy, an h2c upgrade hands the client an HTTP/2 connection to the
/// runtime that bypasses every per-request timeout, log line and metric
/// (h2c smuggling), and RFC 9113 deprecates the mechanism.
public enum UpgradeCheck {
    /// `Upgrade` tokens are compared by name without case (`WebSocket`, `websocket`).
    static func isH2C(_ token: ArraySlice<UInt8>) -> Bool { HeaderName.equals(token, "h2c") }

    /// Calls `body` with each non-empty, trimmed token of the head's `Upgrade` fields.
    static func forEachUpgradeToken(in head: MessageHead, _ body: (ArraySlice<UInt8>) -> Void) {
        for index in 0..<head.fieldCount where head.role(at: index) == .upgrade {
            for token in head.value(at: index).split(separator: UInt8(ascii: ",")) {
                let trimmed = HeaderName.trimmed(token)
                if !trimmed.isEmpty { body(trimmed) }
            }
        }
    }

    /// The request's `Upgrade` offers a protocol other than h2c.
    static func offersProtocolOtherThanH2C(_ head: MessageHead) -> Bool {
        var found = false
        forEachUpgradeToken(in: head) { if !isH2C($0) { found = true } }
        return found
    }

    /// Why a 101 answering `request` must not open a tunnel, or nil when it
    /// may: it names only protocols the request offered, and for WebSocket
    /// it carries the `Sec-WebSocket-Accept` that matches the request's key.
    public static func refusal(request: MessageHead, response: MessageHead) -> String? {
        var offered: [ArraySlice<UInt8>] = []
        forEachUpgradeToken(in: request) { if !isH2C($0) { offered.append($0) } }
        var named = 0
        var unasked = false
        var webSocket = false
        forEachUpgradeToken(in: response) { token in
            named += 1
            if !offered.contains(where: { HeaderName.equalsIgnoringCase($0, token) }) { unasked = true }
            if HeaderName.equals(protocolName(token), "websocket") { webSocket = true }
        }
        if named == 0 { return "101 names no protocol" }
        if unasked { return "101 switches to a protocol the request did not ask for" }
        guard webSocket else { return nil }
        guard let key = request.firstValue(of: "sec-websocket-key"), !key.isEmpty else {
            return "WebSocket 101 for a request without Sec-WebSocket-Key"
        }
        guard let accept = response.firstValue(of: "sec-websocket-accept") else { return "WebSocket 101 without Sec-WebSocket-Accept" }
        return accept.elementsEqual(expectedAccept(forKey: Array(key))) ? nil : "WebSocket 101 with the wrong Sec-WebSocket-Accept"
    }

    /// RFC 6455 4.2.2: base64(SHA-1(key + the protocol's GUID)).
    static func expectedAccept(forKey key: [UInt8]) -> [UInt8] {
        Base64.encode(SHA1.digest(key + Array("258EAFA5-E914-47DA-95CA-C5AB0DC85B11".utf8)))
    }

    /// `websocket` of `websocket/13`.
    private static func protocolName(_ token: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        token.firstIndex(of: UInt8(ascii: "/")).map { token[..<$0] } ?? token
    }
}
