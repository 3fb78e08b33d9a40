import Testing

@testable import ProxyCore

@Suite struct FailureStatusesTests {
    // The default counts every 5xx and nothing else, as the Kubeless runtimes count their functions' exceptions (answered 500).
    @Test func defaultIsEveryServerError() {
        let statuses = FailureStatuses.serverErrors
        #expect(statuses.contains(500) && statuses.contains(503) && statuses.contains(599))
        #expect(!statuses.contains(200) && !statuses.contains(404) && !statuses.contains(429) && !statuses.contains(499))
    }

    // Codes and classes mix, in any case, with spaces around the commas.
    @Test func codesAndClasses() throws {
        let statuses = try #require(FailureStatuses.parse("5XX, 429,404"))
        #expect(statuses.contains(429) && statuses.contains(404) && statuses.contains(500) && statuses.contains(502))
        #expect(!statuses.contains(400) && !statuses.contains(200))
    }

    // `none` counts nothing the runtime answers: the Go proxy's accounting.
    @Test func noneCountsNothing() throws {
        let statuses = try #require(FailureStatuses.parse("none"))
        for status in 100..<600 { #expect(!statuses.contains(status)) }
    }

    // Anything that is not a code from 100 to 599 or a class is refused (exit 64 at start).
    @Test(arguments: ["", "6xx", "0xx", "99", "600", "5x", "50x", "abc", "500,", ",500", "none,500", "5xx 429"])
    func rejects(text: String) {
        #expect(FailureStatuses.parse(text) == nil)
    }
}
