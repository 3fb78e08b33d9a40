import Foundation
import FuzzSupport
import Testing

/// Every seed of Corpus/<target>/ and every saved crash of Crashes/<target>/
/// through its harness, in a plain build (no fuzzer, no sanitizer): a crash
/// found once stays a test. An invariant broken again traps the test process.
struct FuzzReplayTests {
    static let fuzzRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func inputs(_ target: String) -> [URL] {
        ["Corpus", "Crashes"].flatMap { folder -> [URL] in
            let directory = fuzzRoot.appendingPathComponent(folder).appendingPathComponent(target)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return names.filter { !$0.hasPrefix(".") && !$0.hasSuffix(".md") }.sorted().map { directory.appendingPathComponent($0) }
        }
    }

    static func replay(_ target: String, _ harness: (UnsafeRawBufferPointer) -> Void) throws -> Int {
        let files = inputs(target)
        for file in files {
            let data = try Data(contentsOf: file)
            data.withUnsafeBytes { harness($0) }
        }
        return files.count
    }

    @Test func requestParser() throws {
        #expect(try Self.replay("FuzzRequestParser", RequestParserHarness.run) > 0)
    }

    @Test func responseParser() throws {
        #expect(try Self.replay("FuzzResponseParser", ResponseParserHarness.run) > 0)
    }

    @Test func configParsing() throws {
        #expect(try Self.replay("FuzzConfigParsing", ConfigParsingHarness.run) > 0)
    }
}
