import CVhostUserSupport
import Foundation
import Glibc
import Synchronization
import VirtQueue

/// What serves one ring's chains: returns the bytes written into the chain's writable part.
public typealias QueueHandler = (DescriptorChain) -> UInt32

/// One thread serving one ring: waits on the kick eventfd, drains the avail ring in a batch
/// with the driver's kicks suppressed, publishes used entries, and signals the call eventfd
/// once per batch. No lock is taken per request; faults take one.
final class QueueWorker: @unchecked Sendable, UsedRingCompletion {
    let queue: SplitQueue
    let kick: Int32
    let call: Int32?
    /// The service's handler, whichever kind (the other nil): kept apart so a chain's call reads a
    /// stored reference instead of copying it out of the enum (a retain and release per chain).
    private let immediate: QueueHandler?
    private let batching: (any BatchingQueueHandler)?
    /// Called once, on the worker's thread, when the ring breaks (the queue serves no more).
    let onBroken: (QueueError) -> Void
    private let stopped = Atomic<Bool>(false)
    /// Serve what the driver made available before the stop, then stop (a clean shutdown).
    private let finishPending = Atomic<Bool>(false)
    private let counters: RingCounters
    /// Faults by `QueueError` case, chain-level and ring-level alike.
    private let faultLock = NSLock()
    private var faultCounts = [Int](repeating: 0, count: QueueError.allCases.count)
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    /// What the ring served so far, for the counters.
    var statistics: RingStatistics { counters.statistics }
    var faults: [QueueError: Int] {
        faultLock.withLock {
            Dictionary(uniqueKeysWithValues: zip(QueueError.allCases, faultCounts).filter { $0.1 > 0 })
        }
    }

    /// After a batch, keep polling the avail ring this long before sleeping on the kick
    /// (lower latency under load for some CPU; 0 = never poll).
    let pollNanoseconds: UInt64

    init(
        queue: SplitQueue, kick: Int32, call: Int32?, name: String, pollMicroseconds: Int = 0,
        measuresLatency: Bool = false, service: RingService, onBroken: @escaping (QueueError) -> Void
    ) {
        self.queue = queue
        counters = RingCounters(measuresLatency: measuresLatency, batchCapacity: Int(queue.layout.size))
        pollNanoseconds = UInt64(max(0, min(pollMicroseconds, 1_000_000))) * 1000
        self.kick = kick
        self.call = call
        switch service {
        case .immediate(let handle): (immediate, batching) = (handle, nil)
        case .batching(let handler): (immediate, batching) = (nil, handler)
        }
        self.onBroken = onBroken
        let thread = Thread { [unowned self] in
            self.run()
            self.finished.signal()
        }
        thread.name = name
        self.thread = thread
        thread.start()
    }

    private var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Stops the thread after its current batch and waits for it. A kick wakes it at once (a
    /// spurious kick is harmless: the ring is drained only while not stopped).
    /// With `finishingPending`, the chains already available are served first (at most a ring's
    /// worth: a driver that keeps adding cannot hold the stop off).
    func stop(finishingPending: Bool = false) {
        if finishingPending { finishPending.store(true, ordering: .releasing) }
        let (exchanged, _) = stopped.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
        guard exchanged else { return }
        _ = vu_eventfd_signal(kick)
        finished.wait()
    }

    private func run() {
        let chain = DescriptorChain()
        while !isStopped {
            // A bounded wait, so a stop request is seen without a kick.
            _ = vu_eventfd_wait(kick, 100)
            guard !queue.isBroken else { continue }
            // While there is work, the driver need not kick: drain, poll, and sleep only
            // after notifications are back on and the ring is still empty.
            repeat {
                queue.suppressNotifications()
                drain(chain)
                poll(chain)
            } while !isStopped && !queue.isBroken && queue.enableNotifications()
        }
        if finishPending.load(ordering: .acquiring) { finishAvailable(chain) }
    }

    private func finishAvailable(_ chain: DescriptorChain) {
        var served = 0
        while served < Int(queue.layout.size), serveNext(chain) { served += 1 }
        if served > 0 { publish() }
    }

    /// Keeps draining for `pollNanoseconds` after the ring runs dry.
    private func poll(_ chain: DescriptorChain) {
        guard pollNanoseconds > 0 else { return }
        var deadline = DispatchTime.now().uptimeNanoseconds + pollNanoseconds
        while !isStopped, !queue.isBroken {
            let now = DispatchTime.now().uptimeNanoseconds
            if queue.hasPending {
                drain(chain)
                deadline = now + pollNanoseconds
            } else if now >= deadline {
                return
            }
        }
    }

    private func drain(_ chain: DescriptorChain) {
        var served = 0
        repeat {
            while !isStopped, serveNext(chain) { served += 1 }
            if served > 0 {
                served = 0
                publish()
            }
        } while !isStopped && queue.hasPending
    }

    /// Answers what the device still holds, publishes the batch's used entries and signals the
    /// driver if it wants to know.
    private func publish() {
        batching?.finishBatch(completion: self)
        if queue.finishBatch(), let call { _ = vu_eventfd_signal(call) }
        counters.published()
    }

    /// Serves the next available chain; false when there is none or the ring broke.
    @inline(__always)
    private func serveNext(_ chain: DescriptorChain) -> Bool {
        let head: UInt16
        do throws(QueueError) {
            guard let next = try queue.nextAvailable() else { return false }
            head = next
        } catch {
            // Only ring-level faults throw here, and they break the queue.
            count(error)
            onBroken(error)
            return false
        }
        counters.took()
        var written: UInt32? = 0
        do throws(QueueError) {
            try queue.walk(head: head, into: chain)
            counters.read(chain.readableLength)
            if batching != nil {
                written = batching!.serve(chain, head: head, othersWaiting: queue.knownAvailable, completion: self)
            } else {
                written = immediate!(chain)
            }
        } catch {
            // A chain the device cannot walk is returned unused (length 0): that request fails alone.
            count(error)
        }
        if let written { complete(head: head, written: written) }
        return true
    }

    /// A chain answered (now, or later in the batch by a batching handler).
    func complete(head: UInt16, written: UInt32) {
        counters.answered(written: written)
        queue.publishUsed(head: head, written: written)
    }

    private func count(_ fault: QueueError) {
        guard let index = QueueError.allCases.firstIndex(of: fault) else { return }
        faultLock.withLock { faultCounts[index] += 1 }
    }
}
