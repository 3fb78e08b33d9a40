import Testing
@testable import PrometheusText

/// The exact bytes of the text exposition format 0.0.4: family headers,
/// escaping, label sets, number formatting and histogram series.
@Suite struct ExpositionWriterTests {
    private func text(_ build: (inout ExpositionWriter) -> Void) -> String {
        var writer = ExpositionWriter()
        build(&writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    // A family opens with one HELP and one TYPE line, in that order, for each kind.
    @Test(arguments: [ExpositionWriter.Kind.counter, .gauge, .histogram])
    func familyHeader(kind: ExpositionWriter.Kind) {
        let output = text { $0.family("some_metric", kind, help: "What it counts.") }
        #expect(output == "# HELP some_metric What it counts.\n# TYPE some_metric \(kind.rawValue)\n")
    }

    // The TYPE words are the format's lowercase keywords.
    @Test func kindKeywords() {
        #expect(ExpositionWriter.Kind.counter.rawValue == "counter")
        #expect(ExpositionWriter.Kind.gauge.rawValue == "gauge")
        #expect(ExpositionWriter.Kind.histogram.rawValue == "histogram")
    }

    // Help text escapes backslash and newline but leaves double quotes alone.
    @Test func helpEscaping() {
        let output = text { $0.family("m", .gauge, help: "a\\b \"q\"\nnext") }
        #expect(output == "# HELP m a\\\\b \"q\"\\nnext\n# TYPE m gauge\n")
    }

    // Label values escape backslash, double quote and newline; other bytes (UTF-8 included) pass as they are.
    @Test func labelValueEscaping() {
        let output = text { $0.sample("m", labels: Labels(["path": "C:\\dir \"x\"\nÿ€"]), 1) }
        #expect(output == "m{path=\"C:\\\\dir \\\"x\\\"\\nÿ€\"} 1\n")
    }

    // A sample with no labels has no braces at all.
    @Test func sampleWithoutLabels() {
        #expect(text { $0.sample("up", 1) } == "up 1\n")
        #expect(text { $0.sample("up", labels: Labels(), 0) } == "up 0\n")
        #expect(text { $0.sample("up", labels: Labels([:]), 2.5) } == "up 2.5\n")
    }

    // One pair is written as {k="v"}; two pairs keep their order, comma-separated without spaces.
    @Test func sampleWithLabelPairs() {
        #expect(text { $0.sample("m", labels: Labels(["method": "GET"]), 7) } == "m{method=\"GET\"} 7\n")
        #expect(text { $0.sample("m", labels: Labels(["method": "GET", "code": "2xx"]), 7) }
            == "m{method=\"GET\",code=\"2xx\"} 7\n")
        #expect(text { $0.sample("m", labels: Labels(["z": "1", "a": "2"]), 7) } == "m{z=\"1\",a=\"2\"} 7\n")
    }

    // An empty label value is written as an empty quoted string.
    @Test func emptyLabelValue() {
        #expect(text { $0.sample("m", labels: Labels(["k": ""]), 1) } == "m{k=\"\"} 1\n")
    }

    // Numbers: integers without a fraction, shortest round-trip decimals, exponent form as Go writes small values, +Inf/-Inf/NaN.
    @Test(arguments: [
        (1.0, "1"), (0.0, "0"), (-0.0, "0"), (-3.0, "-3"), (0.005, "0.005"), (2.5, "2.5"), (0.1, "0.1"),
        (1e-05, "1e-05"), (0.0001, "0.0001"), (0.1 + 0.2, "0.30000000000000004"),
        (15_687_680.0, "15687680"), (999_999_999_999_999.0, "999999999999999"), (1e16, "1e+16"),
        (1.5e20, "1.5e+20"), (1.7976931348623157e308, "1.7976931348623157e+308"),
        (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"), (Double.nan, "NaN"),
    ])
    func numberFormatting(value: Double, expected: String) {
        #expect(ExpositionWriter.format(value) == expected)
        #expect(text { $0.sample("v", value) } == "v \(expected)\n")
    }

    // The Int overload writes the same text as the Double one.
    @Test(arguments: [0, 1, 7, -2, 123_456_789])
    func intSamples(value: Int) {
        #expect(text { $0.sample("n", value) } == "n \(value)\n")
    }

    // Histogram lines: one cumulative bucket per bound, +Inf equal to count, then _sum and _count, the series labels before le.
    @Test func histogramLinesWithLabels() {
        var histogram = Histogram(bounds: [0.1, 1, 2.5])
        for value in [0.0625, 0.5, 0.75, 3] { histogram.observe(value) }
        let output = text { $0.histogram("d_seconds", labels: Labels(["method": "GET"]), histogram) }
        #expect(output == """
            d_seconds_bucket{method="GET",le="0.1"} 1
            d_seconds_bucket{method="GET",le="1"} 3
            d_seconds_bucket{method="GET",le="2.5"} 3
            d_seconds_bucket{method="GET",le="+Inf"} 4
            d_seconds_sum{method="GET"} 4.3125
            d_seconds_count{method="GET"} 4

            """)
    }

    // Without series labels, bucket lines carry only le and _sum/_count carry no braces.
    @Test func histogramLinesWithoutLabels() {
        var histogram = Histogram(bounds: [0.005, 10])
        histogram.observe(11)
        let output = text { $0.histogram("h", histogram) }
        #expect(output == """
            h_bucket{le="0.005"} 0
            h_bucket{le="10"} 0
            h_bucket{le="+Inf"} 1
            h_sum 11
            h_count 1

            """)
    }

    // An empty histogram still writes every bucket, zero sum and zero count.
    @Test func emptyHistogram() {
        let output = text { $0.histogram("h", labels: Labels(["a": "b"]), Histogram(bounds: [1])) }
        #expect(output == "h_bucket{a=\"b\",le=\"1\"} 0\nh_bucket{a=\"b\",le=\"+Inf\"} 0\nh_sum{a=\"b\"} 0\nh_count{a=\"b\"} 0\n")
    }

    // Bucket bounds are written as Go writes them, so le="1" (not "1.0") and le="0.005" match existing dashboards.
    @Test func bucketBoundFormatting() {
        let bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
        let output = text { $0.histogram("h", Histogram(bounds: bounds)) }
        let les = output.split(separator: "\n").compactMap { line -> String? in
            guard let start = line.firstRange(of: "le=\""), let end = line[start.upperBound...].firstIndex(of: "\"") else { return nil }
            return String(line[start.upperBound..<end])
        }
        #expect(les == ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"])
    }

    // Consecutive calls append: a family header followed by its samples forms one block.
    @Test func callsAppendInOrder() {
        let output = text {
            $0.family("a_total", .counter, help: "A.")
            $0.sample("a_total", labels: Labels(["k": "x"]), 1)
            $0.sample("a_total", labels: Labels(["k": "y"]), 2)
        }
        #expect(output == "# HELP a_total A.\n# TYPE a_total counter\na_total{k=\"x\"} 1\na_total{k=\"y\"} 2\n")
    }
}
