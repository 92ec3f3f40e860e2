import CVhostUserSupport
import Foundation
import Glibc
import Synchronization
import VirtQueue

/// One thread serving one ring: waits on the kick eventfd, drains the avail ring in a
/// batch with the driver's kicks suppressed, publishes used entries, and signals the call
/// eventfd once per batch. No lock is taken per request.
final class QueueWorker: @unchecked Sendable {
    let queue: SplitQueue
    let kick: Int32
    let call: Int32?
    let handle: (DescriptorChain) -> UInt32
    private let stopped = Atomic<Bool>(false)
    private let servedCount = Atomic<Int>(0)
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    /// Requests served, for the counters.
    var served: Int { servedCount.load(ordering: .relaxed) }

    /// After a batch, keep polling the avail ring this long before sleeping on the kick
    /// (lower latency under load for some CPU; 0 = never poll).
    let pollNanoseconds: UInt64

    init(
        queue: SplitQueue, kick: Int32, call: Int32?, name: String, pollMicroseconds: Int = 0,
        handle: @escaping (DescriptorChain) -> UInt32
    ) {
        self.queue = queue
        pollNanoseconds = UInt64(max(0, min(pollMicroseconds, 1_000_000))) * 1000
        self.kick = kick
        self.call = call
        self.handle = handle
        let thread = Thread { [unowned self] in
            self.run()
            self.finished.signal()
        }
        thread.name = name
        self.thread = thread
        thread.start()
    }

    private var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Stops the thread after its current batch and waits for it.
    func stop() {
        let (exchanged, _) = stopped.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
        if exchanged { finished.wait() }
    }

    private func run() {
        let chain = DescriptorChain()
        while !isStopped {
            // A bounded wait, so a stop request is seen without a kick.
            _ = vu_eventfd_wait(kick, 100)
            // While there is work, the driver need not kick: drain, poll, and sleep only
            // after notifications are back on and the ring is still empty.
            repeat {
                queue.suppressNotifications()
                drain(chain)
                poll(chain)
            } while !isStopped && queue.enableNotifications()
        }
    }

    /// Keeps draining for `pollNanoseconds` after the ring runs dry.
    private func poll(_ chain: DescriptorChain) {
        guard pollNanoseconds > 0 else { return }
        var deadline = DispatchTime.now().uptimeNanoseconds + pollNanoseconds
        while !isStopped {
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
            while !isStopped, !queue.isBroken {
                let head: UInt16?
                // a bad head is skipped; a jump breaks the queue
                do { head = try queue.nextAvailable() } catch { continue }
                guard let head else { break }
                var written: UInt32 = 0
                if (try? queue.walk(head: head, into: chain)) != nil {
                    written = handle(chain)
                }
                queue.publishUsed(head: head, written: written)
                served += 1
            }
            if served > 0 {
                servedCount.add(served, ordering: .relaxed)
                served = 0
                if queue.finishBatch(), let call { _ = vu_eventfd_signal(call) }
            }
        } while !isStopped && queue.hasPending
    }
}
