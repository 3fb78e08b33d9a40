/// Cumulative bucket counts, sum and count of observed values, as Prometheus
/// histograms expose them. A plain value: update it on one thread.
public struct Histogram: Sendable {
    /// Upper bounds, ascending; `+Inf` is implied.
    public let bounds: [Double]
    /// Observations that fell at or below each bound, not cumulated (each
    /// observation lands in one slot; the exposition cumulates).
    private var slots: [Int]
    public private(set) var sum = 0.0
    public private(set) var count = 0

    public init(bounds: [Double]) {
        precondition(zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 }, "bucket bounds must ascend")
        self.bounds = bounds
        slots = [Int](repeating: 0, count: bounds.count)
    }

    public mutating func observe(_ value: Double) {
        sum += value
        count += 1
        // Few buckets: a linear scan beats a binary search here.
        for index in bounds.indices where value <= bounds[index] {
            slots[index] += 1
            return
        }
    }

    /// Count of observations at or below each bound, in bound order.
    public var cumulativeCounts: [Int] {
        var running = 0
        return slots.map { running += $0; return running }
    }
}
