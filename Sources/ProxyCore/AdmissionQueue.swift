/// Which requests may go upstream now: the runtime must be ready, and with
/// `--max-inflight N` at most N may be there at once. Others wait in a
/// bounded first-in first-out queue; when it is full they are turned away.
/// Generic over the waiter so it is tested without connections.
struct AdmissionQueue<Waiter: AnyObject> {
    enum Decision: Equatable {
        case admitted
        case queued
        /// The queue is full: answer 503 with Retry-After.
        case rejected
    }

    let maxInFlight: Int?
    let maxQueued: Int
    private(set) var admitted = 0
    private var waiting: [Waiter] = []
    private var head = 0
    private(set) var rejections = 0
    var runtimeReady: Bool

    init(maxInFlight: Int?, maxQueued: Int, runtimeReady: Bool) {
        self.maxInFlight = maxInFlight
        self.maxQueued = maxQueued
        self.runtimeReady = runtimeReady
    }

    var queuedCount: Int { waiting.count - head }

    private var hasRoom: Bool { runtimeReady && (maxInFlight.map { admitted < $0 } ?? true) }

    mutating func request(_ waiter: Waiter) -> Decision {
        if queuedCount == 0 && hasRoom {
            admitted += 1
            return .admitted
        }
        guard queuedCount < maxQueued else {
            rejections += 1
            return .rejected
        }
        waiting.append(waiter)
        return .queued
    }

    /// An admitted request is done; returns the waiters to admit now.
    mutating func release() -> [Waiter] {
        admitted -= 1
        return admitNext()
    }

    /// The runtime became ready (or not); returns the waiters to admit now.
    mutating func setRuntimeReady(_ ready: Bool) -> [Waiter] {
        runtimeReady = ready
        return admitNext()
    }

    /// A waiter gave up (timed out or closed).
    mutating func remove(_ waiter: Waiter) {
        if let index = waiting[head...].firstIndex(where: { $0 === waiter }) { waiting.remove(at: index) }
        compact()
    }

    private mutating func admitNext() -> [Waiter] {
        var ready: [Waiter] = []
        while queuedCount > 0 && hasRoom {
            ready.append(waiting[head])
            head += 1
            admitted += 1
        }
        compact()
        return ready
    }

    private mutating func compact() {
        if head > 0 && head == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 {
            waiting.removeFirst(head)
            head = 0
        }
    }
}
