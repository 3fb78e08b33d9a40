import Foundation
import Testing

/// The harness itself: what a child started by the tests inherits.
@Suite struct HarnessTests {
    // A child holds only its three standard streams, even while this process has sockets and pipes open.
    @Test func childInheritsOnlyItsStandardStreams() throws {
        let listener = try FreePort.boundSocket()
        defer { close(listener.fd) }
        let pipe = try PipeEnds()
        defer { close(pipe.read); close(pipe.write) }
        // ls holds one more descriptor of its own: the directory it lists.
        let result = try runToCompletion("/bin/ls", ["/proc/self/fd"])
        let descriptors = String(decoding: result.output, as: UTF8.self).split(separator: "\n").compactMap { Int($0) }
        #expect(result.status == 0)
        #expect(descriptors.count == 4 && descriptors.prefix(3) == [0, 1, 2], "\(descriptors)")
    }

    // Exit codes and signals come back as Foundation's Process gave them.
    @Test func terminationStatus() throws {
        #expect(try runToCompletion("/bin/sh", ["-c", "exit 7"]).status == 7)
        #expect(try runToCompletion("/bin/sh", ["-c", "kill -TERM $$"]).status == SIGTERM)
    }
}
