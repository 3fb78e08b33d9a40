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
/// inputs):
/// - a `Connection` field naming `Content-Length` removed the length from the
///   head sent upstream while the body still followed, so the runtime read
///   the body as a next request (request smuggling): a9f559e
///   (Crashes/*/connection-names-content-length);
/// - a status `000` to `099` (or none: `HTTP/1.1 \r\n`) was taken as interim,
///   relayed as `100`, and its body passed to the client raw, where it read as
///   the next response: b4f5a76, now 502 (Crashes/FuzzResponseParser/status-*);
/// - control bytes (NUL...) in a reason phrase were relayed to the client:
///   b4f5a76, now 502 (Crashes/FuzzResponseParser/reason-phrase-control-bytes);
/// - a 101 without `Upgrade` + `Connection: upgrade` (no switch for llhttp)
///   had what followed it read as its body and relayed raw to the client,
///   where it read as a response (response injection by a runtime): now 502
///   (Crashes/FuzzResponseParser/non-switching-101-*, non-upgrade-101-with-body).
///
/// No open issue is listed now: add a case here (and a `tolerated(.case)`
/// check in the harness) when the fuzzer finds one that cannot be fixed at once.
enum KnownIssue {
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
