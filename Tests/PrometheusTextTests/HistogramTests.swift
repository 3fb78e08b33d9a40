import Testing
@testable import PrometheusText

/// Where observations land: buckets are upper-inclusive (`le`), counts are
/// cumulative, and values past the last bound show only in +Inf.
@Suite struct HistogramTests {
    static let defaultBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    // A value equal to a bound lands in that bound's bucket, not the next one.
    @Test(arguments: 0..<11)
    func valueEqualToBoundLandsInThatBucket(index: Int) {
        var histogram = Histogram(bounds: Self.defaultBounds)
        histogram.observe(Self.defaultBounds[index])
        let expected = Self.defaultBounds.indices.map { $0 >= index ? 1 : 0 }
        #expect(histogram.cumulativeCounts == expected)
        #expect(histogram.count == 1)
        #expect(histogram.sum == Self.defaultBounds[index])
    }

    // The smallest value above a bound lands in the next bucket.
    @Test(arguments: 0..<10)
    func valueJustAboveBoundLandsInNextBucket(index: Int) {
        var histogram = Histogram(bounds: Self.defaultBounds)
        histogram.observe(Self.defaultBounds[index].nextUp)
        let expected = Self.defaultBounds.indices.map { $0 > index ? 1 : 0 }
        #expect(histogram.cumulativeCounts == expected)
    }

    // A value above the last bound is in no finite bucket, only in the count (+Inf).
    @Test(arguments: [(10.0).nextUp, 11, 1e9, Double.infinity])
    func valueAboveLastBoundOnlyInInf(value: Double) {
        var histogram = Histogram(bounds: Self.defaultBounds)
        histogram.observe(value)
        #expect(histogram.cumulativeCounts == [Int](repeating: 0, count: 11))
        #expect(histogram.count == 1)
        #expect(histogram.sum == value)
    }

    // Zero and negative values land in the first bucket.
    @Test(arguments: [0.0, -1, 0.001])
    func smallValuesLandInFirstBucket(value: Double) {
        var histogram = Histogram(bounds: Self.defaultBounds)
        histogram.observe(value)
        #expect(histogram.cumulativeCounts == [Int](repeating: 1, count: 11))
    }

    // Counts cumulate across buckets; sum and count cover every observation.
    @Test func cumulativeCountsSumAndCount() {
        var histogram = Histogram(bounds: [1, 2, 4])
        for value in [0.5, 1, 1.5, 2, 3, 4, 8, 16] { histogram.observe(value) }
        #expect(histogram.cumulativeCounts == [2, 4, 6])
        #expect(histogram.count == 8)
        #expect(histogram.sum == 36)
    }

    // A new histogram keeps its bounds and has zero counts, sum and count.
    @Test func newHistogramIsEmpty() {
        let histogram = Histogram(bounds: Self.defaultBounds)
        #expect(histogram.bounds == Self.defaultBounds)
        #expect(histogram.cumulativeCounts == [Int](repeating: 0, count: 11))
        #expect(histogram.count == 0)
        #expect(histogram.sum == 0)
    }

    // With no finite bounds every observation is only in +Inf.
    @Test func noBoundsOnlyInf() {
        var histogram = Histogram(bounds: [])
        histogram.observe(3)
        #expect(histogram.cumulativeCounts.isEmpty)
        #expect(histogram.count == 1)
        var writer = ExpositionWriter()
        writer.histogram("h", histogram)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == "h_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n")
    }

    // Histogram is a value: a copy does not see later observations.
    @Test func copiesAreIndependent() {
        var first = Histogram(bounds: [1])
        first.observe(0.5)
        let copy = first
        first.observe(0.5)
        #expect(copy.count == 1)
        #expect(first.count == 2)
        #expect(copy.cumulativeCounts == [1])
    }
}
