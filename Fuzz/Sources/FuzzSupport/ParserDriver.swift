import ProxyHTTP

/// Parses `stream` whole without pauses (the reference run), then cut by
/// every split with the proxy's pauses: each must log the reference's events.
/// `makeDriver(proxyLike)` makes a fresh driver for each run.
func checkSplits(options: UInt8, stream: [UInt8], _ makeDriver: (_ proxyLike: Bool) -> ParserDriver) {
    if KnownIssue.trace { traceLine("reference run (whole, no pauses), options \(options):") }
    let reference = makeDriver(false)
    reference.feed([stream[...]])
    reference.end()

    for split in Split.all(options: options, stream: stream) {
        if KnownIssue.trace { traceLine("split \(split):") }
        let driver = makeDriver(true)
        driver.feed(split.chunks(stream))
        driver.end()
        check(driver.log == reference.log, "split \(split) gives other events than the whole stream",
              "options \(options), \(driver.log.difference(from: reference.log))")
    }
}

/// What `RequestDriver` and `ResponseDriver` share: a parser fed in reads,
/// the events it logs, and the checks both make of the parser's outcomes and
/// callbacks. A subclass feeds (pausing and resuming as its side of the proxy
/// does) and is the parser's delegate.
class ParserDriver {
    let parser: HTTPParser
    let options: UInt8
    /// Pauses as the proxy does; otherwise never pauses (the reference run).
    let proxyLike: Bool
    var log = EventLog()

    var headCount = 0
    /// Bytes read while the parser is paused, parsed when it resumes.
    var pending: [UInt8] = []
    /// A parse error or an upgrade: nothing more is parsed.
    var stopped = false
    /// After an upgrade: the bytes after the switch, and every later read.
    var upgradeTail: [UInt8]?

    init(kind: HTTPParser.Kind, limits: HeadLimits, options: UInt8, proxyLike: Bool) {
        self.options = options
        self.proxyLike = proxyLike
        // As the proxy's client parser: X-Request-Timeout is the proxy's own, never forwarded.
        parser = HTTPParser(kind: kind, limits: limits, consumedField: kind == .request ? "x-request-timeout" : nil)
    }

    /// What a violated check reports about this run.
    var context: String { "options \(options), proxyLike \(proxyLike), head \(headCount)" }

    /// Parses the reads in turn (each subclass pauses and resumes its own way).
    func feed(_ chunks: [ArraySlice<UInt8>]) { preconditionFailure("a ParserDriver subclass feeds") }

    /// The stream ends: logs an upgrade's tail; unless stopped, `endOfStream()`.
    func end() {
        // The parser holds its delegate strongly (as in the proxy): let go.
        defer { parser.delegate = nil }
        if let upgradeTail { log.append(.upgraded(tail: upgradeTail)) }
        if stopped { return }
        endOfStream()
    }

    /// The end of a stream that neither failed nor switched.
    func endOfStream() {}

    /// Parses `bytes`: after a pause the bytes not consumed wait in `pending`
    /// (then `didPause()`); after an upgrade they start `upgradeTail` (then
    /// `didUpgrade()`); an error is logged. Both stop parsing.
    func parse(_ bytes: ArraySlice<UInt8>) {
        let outcome = parser.execute(bytes)
        switch outcome {
        case .consumedAll:
            break
        case .paused(let consumed):
            check(proxyLike, "paused without being asked", context)
            check((0...bytes.count).contains(consumed), "paused consumed \(consumed) of \(bytes.count)", context)
            pending += bytes.dropFirst(consumed)
            didPause()
        case .upgraded(let consumed):
            check((0...bytes.count).contains(consumed), "upgraded consumed \(consumed) of \(bytes.count)", context)
            upgradeTail = Array(bytes.dropFirst(consumed)) + pending
            pending.removeAll()
            stopped = true
            didUpgrade()
        case .failed(let error):
            log.append(.failed)
            check(error.statusCode >= 400 && !error.reason.isEmpty, "error \(error.kind) without a status or reason", context)
            stopped = true
        }
    }

    /// The parser paused (the bytes it did not consume are in `pending`).
    func didPause() {}

    /// The parser switched protocols (`upgradeTail` holds what came after).
    func didUpgrade() {}

    // MARK: What every parser callback checks and logs first

    /// A head completed: checks the parser's state and the head
    /// (`HeadSummary`), reads every accessor, and logs it.
    func headCompleted(kind: HTTPParser.Kind) -> HeadSummary {
        check(!parser.isReadingHead && parser.isInMessage, "head complete while isReadingHead \(parser.isReadingHead), isInMessage \(parser.isInMessage)", context)
        let summary = HeadSummary(parser.head, kind: kind)
        log.append(.head(summary))
        headCount += 1
        _ = parser.needsEndOfStream
        return summary
    }

    /// Body bytes came: checks that a message is being read, logs them, and returns a copy.
    func bodyReceived(_ bytes: RawSpan) -> [UInt8] {
        check(parser.isInMessage && !parser.isReadingHead, "body outside a message", context)
        var copy: [UInt8] = []
        copy.append(bytesOf: bytes)
        log.append(.body(copy))
        return copy
    }

    /// A message completed: checks that the parser is out of it, and logs it.
    func messageCompleted() {
        check(!parser.isInMessage, "message complete while isInMessage", context)
        log.append(.complete)
    }
}
