import Dispatch
import Foundation

/// One thread's share of a raw measurement: a call that performs `requestsPerCall` requests
/// on that thread's own buffers and contexts (OpenSSL contexts and IPsec-MB managers are not
/// shared between threads).
final class RawWork: @unchecked Sendable {
    let requestsPerCall: Int
    let call: () -> Void
    /// Requests per second measured by the last `RawRate.measure`.
    fileprivate var rate = 0.0

    init(requestsPerCall: Int = 1, _ call: @escaping () -> Void) {
        self.requestsPerCall = requestsPerCall
        self.call = call
    }
}

/// The raw library's rate on as many threads as the daemon has workers: every thread runs
/// its own `RawWork` over the same interval and the rates are summed.
enum RawRate {
    /// Requests before timing starts (caches, lazily keyed state), as the engines benchmark warms.
    static let warmUpRequests = 100
    /// Requests between two reads of the clock, so the clock costs nothing per request.
    static let requestsPerClockRead = 64

    /// Summed requests per second of `works` over about `seconds`, each on its own thread
    /// (the calling thread when there is one).
    static func measure(_ works: [RawWork], seconds: Double) -> Double {
        if works.count == 1 {
            run(works[0], seconds: seconds, ready: nil, start: nil)
            return works[0].rate
        }
        let ready = DispatchSemaphore(value: 0)
        let start = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for work in works {
            group.enter()
            Thread {
                run(work, seconds: seconds, ready: ready, start: start)
                group.leave()
            }.start()
        }
        // Every thread warms up, then all start timing together.
        for _ in works { ready.wait() }
        for _ in works { start.signal() }
        group.wait()
        return works.reduce(0) { $0 + $1.rate }
    }

    private static func run(_ work: RawWork, seconds: Double, ready: DispatchSemaphore?, start: DispatchSemaphore?) {
        let callsPerClockRead = max(1, requestsPerClockRead / work.requestsPerCall)
        for _ in 0..<max(1, warmUpRequests / work.requestsPerCall) { work.call() }
        ready?.signal()
        start?.wait()
        var calls = 0
        let begin = DispatchTime.now().uptimeNanoseconds
        let deadline = begin + UInt64(seconds * 1e9)
        var now = begin
        while now < deadline {
            for _ in 0..<callsPerClockRead { work.call() }
            calls += callsPerClockRead
            now = DispatchTime.now().uptimeNanoseconds
        }
        work.rate = Double(calls * work.requestsPerCall) / (Double(now - begin) / 1e9)
    }
}
