import Testing

@testable import ProxyCore

/// Stands in for a client connection: only its identity matters.
private final class Waiter: CustomStringConvertible {
    let id: Int
    init(_ id: Int) { self.id = id }
    var description: String { "w\(id)" }
}

private typealias Queue = AdmissionQueue<Waiter>

private func ids(_ waiters: [Waiter]) -> [Int] { waiters.map(\.id) }
private func waiters(_ count: Int, from first: Int = 0) -> [Waiter] { (first..<first + count).map(Waiter.init) }

@Suite struct AdmissionQueueTests {
    // A ready runtime under the limit admits; at the limit the request is queued.
    @Test func admittedWhileReadyUnderLimit() {
        var queue = Queue(maxInFlight: 2, maxQueued: 10, runtimeReady: true)
        let all = waiters(3)
        #expect(queue.request(all[0]) == .admitted)
        #expect(queue.request(all[1]) == .admitted)
        #expect(queue.request(all[2]) == .queued)
        #expect(queue.admitted == 2)
        #expect(queue.queuedCount == 1)
        #expect(queue.rejections == 0)
    }

    // A runtime that is not ready holds every request, even with no limit.
    @Test func queuedWhileNotReady() {
        var queue = Queue(maxInFlight: nil, maxQueued: 10, runtimeReady: false)
        for waiter in waiters(3) { #expect(queue.request(waiter) == .queued) }
        #expect(queue.admitted == 0)
        #expect(queue.queuedCount == 3)
    }

    // Readiness admits waiters first-in first-out up to maxInFlight; each release admits the next one.
    @Test func readyAdmitsInOrderUpToLimitThenReleaseAdmitsNext() {
        var queue = Queue(maxInFlight: 2, maxQueued: 10, runtimeReady: false)
        let all = waiters(4)
        for waiter in all { _ = queue.request(waiter) }
        #expect(ids(queue.setRuntimeReady(true)) == [0, 1])
        #expect(queue.admitted == 2 && queue.queuedCount == 2)
        #expect(ids(queue.release()) == [2])
        #expect(ids(queue.release()) == [3])
        #expect(queue.admitted == 2 && queue.queuedCount == 0)
        #expect(queue.release().isEmpty)
        #expect(queue.release().isEmpty)
        #expect(queue.admitted == 0)
        #expect(queue.setRuntimeReady(true).isEmpty)
    }

    // A runtime going down admits nothing more: releases free slots but waiters stay queued until it is ready.
    @Test func notReadyHoldsWaitersAcrossReleases() {
        var queue = Queue(maxInFlight: 1, maxQueued: 10, runtimeReady: true)
        let all = waiters(3)
        #expect(queue.request(all[0]) == .admitted)
        #expect(queue.setRuntimeReady(false).isEmpty)
        #expect(queue.request(all[1]) == .queued)
        #expect(queue.request(all[2]) == .queued)
        #expect(queue.release().isEmpty)
        #expect(queue.admitted == 0 && queue.queuedCount == 2)
        #expect(ids(queue.setRuntimeReady(true)) == [1])
        #expect(ids(queue.release()) == [2])
    }

    // A full queue turns requests away and counts them; it takes requests again once it has room.
    @Test func rejectedWhenQueueFull() {
        var queue = Queue(maxInFlight: nil, maxQueued: 2, runtimeReady: false)
        let all = waiters(5)
        #expect(queue.request(all[0]) == .queued)
        #expect(queue.request(all[1]) == .queued)
        #expect(queue.request(all[2]) == .rejected)
        #expect(queue.request(all[3]) == .rejected)
        #expect(queue.rejections == 2)
        #expect(queue.queuedCount == 2)
        #expect(ids(queue.setRuntimeReady(true)) == [0, 1])
        #expect(queue.request(all[4]) == .admitted)
        #expect(queue.rejections == 2)
    }

    // With maxQueued 0 a request that cannot be admitted at once is rejected; one that can is still admitted.
    @Test func zeroQueueRejectsWhatCannotGoNow() {
        var queue = Queue(maxInFlight: 1, maxQueued: 0, runtimeReady: true)
        #expect(queue.request(Waiter(0)) == .admitted)
        #expect(queue.request(Waiter(1)) == .rejected)
        #expect(queue.rejections == 1)
    }

    // remove drops a waiter from anywhere in the queue; it is never admitted later and the order of the rest holds.
    @Test func removeDropsWaiter() {
        var queue = Queue(maxInFlight: 1, maxQueued: 10, runtimeReady: false)
        let all = waiters(5)
        for waiter in all { _ = queue.request(waiter) }
        queue.remove(all[2])
        queue.remove(all[0])
        #expect(queue.queuedCount == 3)
        queue.remove(all[0])  // not queued any more: no-op
        queue.remove(Waiter(99))  // never queued: no-op
        #expect(queue.queuedCount == 3)
        #expect(ids(queue.setRuntimeReady(true)) == [1])
        queue.remove(all[1])  // admitted, not queued: no-op, still holds its slot
        #expect(queue.admitted == 1 && queue.queuedCount == 2)
        queue.remove(all[4])
        #expect(ids(queue.release()) == [3])
        #expect(queue.release().isEmpty)
        #expect(queue.admitted == 0 && queue.queuedCount == 0)
    }

    // A removal frees queue room: the next request is queued instead of rejected.
    @Test func removeFreesQueueRoom() {
        var queue = Queue(maxInFlight: nil, maxQueued: 1, runtimeReady: false)
        let all = waiters(3)
        #expect(queue.request(all[0]) == .queued)
        #expect(queue.request(all[1]) == .rejected)
        queue.remove(all[0])
        #expect(queue.request(all[2]) == .queued)
        #expect(ids(queue.setRuntimeReady(true)) == [2])
    }

    // Without a limit a ready runtime admits everything and nothing queues.
    @Test func noLimitAdmitsEverythingWhileReady() {
        var queue = Queue(maxInFlight: nil, maxQueued: 0, runtimeReady: true)
        for waiter in waiters(1_000) { #expect(queue.request(waiter) == .admitted) }
        #expect(queue.admitted == 1_000 && queue.queuedCount == 0 && queue.rejections == 0)
        for _ in 0..<1_000 { #expect(queue.release().isEmpty) }
        #expect(queue.admitted == 0)
    }

    // FIFO fairness: a newcomer never overtakes waiters; a freed slot goes to the oldest waiter, and even with
    // a free slot (readiness set without setRuntimeReady) a newcomer is queued behind the waiters.
    @Test func newcomerDoesNotOvertakeWaiters() {
        var queue = Queue(maxInFlight: 1, maxQueued: 10, runtimeReady: true)
        let all = waiters(4)
        #expect(queue.request(all[0]) == .admitted)
        #expect(queue.request(all[1]) == .queued)
        #expect(queue.request(all[2]) == .queued)
        #expect(ids(queue.release()) == [1])
        #expect(queue.request(all[3]) == .queued)
        #expect(ids(queue.release()) == [2])
        #expect(ids(queue.release()) == [3])

        var held = Queue(maxInFlight: 5, maxQueued: 10, runtimeReady: false)
        let more = waiters(2)
        #expect(held.request(more[0]) == .queued)
        held.runtimeReady = true  // a slot is free but the waiter was not admitted yet
        #expect(held.request(more[1]) == .queued)
        #expect(ids(held.setRuntimeReady(true)) == [0, 1])
    }

    // 5,000 release/request cycles with a long queue (past the 1,024 compaction point) keep FIFO order and counts.
    @Test func manyCyclesKeepOrderAndCounts() {
        var queue = Queue(maxInFlight: 1, maxQueued: 3_000, runtimeReady: true)
        #expect(queue.request(Waiter(-1)) == .admitted)
        var expected: [Waiter] = []
        for waiter in waiters(2_500) {
            #expect(queue.request(waiter) == .queued)
            expected.append(waiter)
        }
        var next = 2_500
        var front = 0
        for cycle in 0..<5_000 {
            if cycle % 7 == 3, expected.count - front > 2 {  // a waiter in the middle gives up
                let gone = expected.remove(at: front + 1)
                queue.remove(gone)
            }
            let admitted = queue.release()
            #expect(admitted.count == 1 && admitted.first === expected[front])
            front += 1
            let newcomer = Waiter(next)
            next += 1
            #expect(queue.request(newcomer) == .queued)
            expected.append(newcomer)
            #expect(queue.admitted == 1)
            #expect(queue.queuedCount == expected.count - front)
        }
        #expect(queue.rejections == 0)
        // Drain what is left, in order.
        while front < expected.count {
            #expect(queue.release().first === expected[front])
            front += 1
        }
        #expect(queue.release().isEmpty)
        #expect(queue.admitted == 0 && queue.queuedCount == 0)
    }

    // A deterministic mix of requests, releases, removals and readiness flips agrees with a plain model.
    @Test func randomOperationsMatchModel() {
        var queue = Queue(maxInFlight: 3, maxQueued: 20, runtimeReady: false)
        var modelQueue: [Waiter] = []
        var inFlight = 0, rejections = 0, ready = false, seed: UInt64 = 0x9E37_79B9_7F4A_7C15, next = 0
        func admitModel() -> [Waiter] {
            var out: [Waiter] = []
            while ready, inFlight < 3, !modelQueue.isEmpty {
                out.append(modelQueue.removeFirst())
                inFlight += 1
            }
            return out
        }
        for _ in 0..<5_000 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            switch (seed >> 33) % 10 {
            case 0...3:
                let waiter = Waiter(next)
                next += 1
                let expected: Queue.Decision
                if modelQueue.isEmpty && ready && inFlight < 3 {
                    inFlight += 1
                    expected = .admitted
                } else if modelQueue.count < 20 {
                    modelQueue.append(waiter)
                    expected = .queued
                } else {
                    rejections += 1
                    expected = .rejected
                }
                #expect(queue.request(waiter) == expected)
            case 4...6 where inFlight > 0:
                inFlight -= 1
                #expect(ids(queue.release()) == ids(admitModel()))
            case 7 where !modelQueue.isEmpty:
                let gone = modelQueue.remove(at: Int(seed >> 40) % modelQueue.count)
                queue.remove(gone)
            case 8, 9:
                ready = (seed >> 45) % 4 != 0
                #expect(ids(queue.setRuntimeReady(ready)) == ids(admitModel()))
            default:
                break
            }
            #expect(queue.admitted == inFlight)
            #expect(queue.queuedCount == modelQueue.count)
        }
        #expect(queue.rejections == rejections)
        #expect(rejections > 0 && next > 1_000)  // the mix did reach a full queue
    }
}
