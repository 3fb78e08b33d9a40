import ProxyHTTP

/// CloudEvents in binary mode (Knative Eventing and every CloudEvents
/// producer: the attributes as `ce-*` headers, the data as the body) reach a
/// Kubeless function as the event its runtime builds from `event-*` headers
/// (seed 003, "Runtimes interface"). The `ce-*` headers are kept; an
/// `event-*` header the client set wins.
enum CloudEventHeaders {
    /// `ce-*` attribute -> the Kubeless header it becomes.
    private static let mapping: [(attribute: StaticString, header: StaticString, field: [UInt8])] = [
        ("ce-id", "event-id", Array("event-id: ".utf8)),
        ("ce-type", "event-type", Array("event-type: ".utf8)),
        ("ce-time", "event-time", Array("event-time: ".utf8)),
        ("ce-source", "event-namespace", Array("event-namespace: ".utf8)),
    ]

    /// The `event-*` fields to add to the upstream's head for a request with
    /// `ce-*` attributes (`head.contains(.cloudEvent)`), as complete lines.
    static func kubelessFields(for head: MessageHead) -> [UInt8] {
        var fields: [UInt8] = []
        for (attribute, header, field) in mapping {
            guard let value = head.firstValue(of: attribute), !head.contains(header) else { continue }
            fields.append(contentsOf: field)
            fields.append(contentsOf: value)
            fields.append(contentsOf: [0x0D, 0x0A])
        }
        return fields
    }
}
