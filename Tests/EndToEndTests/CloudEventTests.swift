import Foundation
import Testing

/// A binary-mode CloudEvent (as Knative Eventing delivers it) reaches a real
/// Kubeless runtime's function as its `event`: id, type, time and source
/// from the `ce-*` attributes, the data from the body.
@Suite struct CloudEventTests {
    static let attributes = [
        "ce-specversion": "1.0", "ce-id": "A234-1234-1234", "ce-type": "com.example.object.created",
        "ce-time": "2018-04-05T17:31:00Z", "ce-source": "/mycontext",
    ]

    // The Ruby runtime's hellopost function sees the CloudEvent's attributes as its event fields, and its data parsed.
    @Test func binaryModeEventReachesTheFunction() throws {
        let deployment = try Deployment("ruby", "hellopost", "handler")
        let response = try deployment.call("POST", "/", headers: Self.attributes.merging(["Content-Type": "application/json"]) { $1 },
                                           body: #"{"object": "created"}"#)
        #expect(response.status == 200)
        let seen = try KubelessRuntimeTests.jsonObject(response)
        #expect(seen["event-id"] as? String == "A234-1234-1234")
        #expect(seen["event-type"] as? String == "com.example.object.created")
        #expect(seen["event-time"] as? String == "2018-04-05T17:31:00Z")
        #expect(seen["event-namespace"] as? String == "/mycontext")
        #expect(seen["data"] as? [String: String] == ["object": "created"])
    }

    // An event-* header the client set wins over the ce-* attribute; --cloud-events off maps nothing.
    @Test func clientsEventHeaderWinsAndOffMapsNothing() throws {
        let deployment = try Deployment("ruby", "hellopost", "handler")
        let mine = try KubelessRuntimeTests.jsonObject(try deployment.call(
            "POST", "/", headers: Self.attributes.merging(["event-id": "mine", "Content-Type": "text/plain"]) { $1 }, body: "x"))
        #expect(mine["event-id"] as? String == "mine")
        #expect(mine["event-type"] as? String == "com.example.object.created")

        let off = try Deployment("ruby", "hellopost", "handler", proxyArguments: ["--cloud-events", "off"])
        let plain = try KubelessRuntimeTests.jsonObject(try off.call("POST", "/", headers: Self.attributes.merging(["Content-Type": "text/plain"]) { $1 },
                                                                   body: "x"))
        #expect(plain["event-id"] as? String != "A234-1234-1234")
        #expect(plain["event-namespace"] as? String == "cli.kubeless.io")
    }
}
