import ProxyHTTP

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bugs the fuzzers found that are not fixed in Sources/ yet. While one is
/// listed here, the harnesses skip the check it breaks for the inputs that
/// show it (and only those), so that a fuzz run goes on looking for other
/// bugs and CI stays green; its input is kept in Crashes/<target>/.
///
/// When a fix lands, delete its case: the saved input then fails the replay
/// (`swift test --package-path Fuzz`, and scripts/fuzz) if the bug comes back.
/// `FUZZ_STRICT=1` tolerates none of them (to see that a fix works).
///
/// Fixed since they were found (their inputs stay in Crashes/ as regression
/// inputs): a `Connection` field naming `Content-Length` removed the length
/// from the head sent upstream while the body still followed, so the runtime
/// read the body as a next request (request smuggling); fixed in a9f559e
/// ("Connection cannot remove Content-Length or Host").
enum KnownIssue: String, CaseIterable {
    /// llhttp takes any three digits as a status, `000` to `099` included (and
    /// a status line with no code at all, `HTTP/1.1 \r\n`, as 0). The proxy
    /// treats such a response as interim (below 200) and relays its head to
    /// the client as `100` (HeadWriter clamps the status); and since
    /// HTTPParser counts only 1xx as bodiless, it is read with a body (by its
    /// length, its chunks or up to the close, even in answer to HEAD) that the
    /// proxy passes to the client raw, with no framing of its own: the client
    /// reads those bytes as the next response. A runtime can so desynchronise
    /// the client's connection (a gateway's kept-alive one: response
    /// splitting). RFC 9110 15: the first digit is 1 to 5.
    /// Crashes/FuzzResponseParser/status-below-100,
    /// Crashes/FuzzResponseParser/status-below-100-with-body,
    /// Crashes/FuzzResponseParser/status-missing-head-body.
    case statusBelow100 = "status-below-100"

    /// A 101 without `Upgrade` + `Connection: upgrade` is no switch for llhttp:
    /// parsing goes on in HTTP. The proxy still relays it to a client that
    /// asked to upgrade as `101` + `Connection: upgrade` (the client switches;
    /// the proxy then relays the next response's head and body into the
    /// switched connection), and to any client passes the body llhttp reads
    /// for it (HTTPParser does not count 101 as bodiless) raw, with no head.
    /// Crashes/FuzzResponseParser/non-upgrade-101-with-body,
    /// Crashes/FuzzResponseParser/non-switching-101-relayed.
    case nonSwitching101 = "non-switching-101"

    /// llhttp lets any byte but CR and LF through in a reason phrase (NUL and
    /// other control bytes included), and the proxy relays it to the client as
    /// it came. RFC 9112 4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ).
    /// Not an injection (no CR or LF), but a runtime's bytes reach the client
    /// unchecked. Crashes/FuzzResponseParser/reason-phrase-control-bytes.
    case reasonPhraseControlBytes = "reason-phrase-control-bytes"

    static let strict: Bool = getenv("FUZZ_STRICT").map { String(cString: $0) == "1" } ?? false
    /// `FUZZ_TRACE=1`: print each input's events (to read a crash input).
    static let trace: Bool = getenv("FUZZ_TRACE").map { String(cString: $0) == "1" } ?? false

    /// Whether `issue` is still open and so its check is skipped.
    static func tolerated(_ issue: KnownIssue) -> Bool { !strict }
}

/// Writes a line to standard error at once (nothing is lost when a check traps).
func traceLine(_ text: String) {
    let line = text + "\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}
