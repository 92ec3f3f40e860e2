import CVhostUserSupport
import Foundation
import Glibc
import VirtQueue

/// One thread serving one ring: waits on the kick eventfd, drains the avail ring in a
/// batch, publishes used entries, and signals the call eventfd once per batch.
final class QueueWorker: @unchecked Sendable {
    let queue: SplitQueue
    let kick: Int32
    let call: Int32?
    let handle: (DescriptorChain) -> UInt32
    private let stopLock = NSLock()
    private var stopped = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    /// Requests served, for the counters.
    var served: Int {
        stopLock.lock()
        defer { stopLock.unlock() }
        return servedCount
    }
    private var servedCount = 0

    /// After a batch, keep polling the avail ring this long before sleeping on the kick
    /// (lower latency under load for some CPU; 0 = never poll).
    let pollNanoseconds: UInt64

    init(queue: SplitQueue, kick: Int32, call: Int32?, name: String, pollMicroseconds: Int = 0,
         handle: @escaping (DescriptorChain) -> UInt32) {
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

    private var isStopped: Bool {
        stopLock.lock()
        defer { stopLock.unlock() }
        return stopped
    }

    /// Stops the thread after its current batch and waits for it.
    func stop() {
        stopLock.lock()
        let wasRunning = !stopped
        stopped = true
        stopLock.unlock()
        if wasRunning { finished.wait() }
    }

    private func run() {
        let chain = DescriptorChain()
        while !isStopped {
            // A bounded wait, so a stop request is seen without a kick.
            _ = vu_eventfd_wait(kick, 100)
            drain(chain)
            guard pollNanoseconds > 0 else { continue }
            let deadline = DispatchTime.now().uptimeNanoseconds + pollNanoseconds
            while !isStopped && DispatchTime.now().uptimeNanoseconds < deadline {
                if queue.hasPending { drain(chain) }
            }
        }
    }

    private func drain(_ chain: DescriptorChain) {
        var progressed = false
        repeat {
            while !isStopped, !queue.isBroken {
                let head: UInt16?
                do { head = try queue.nextAvailable() } catch { continue }  // a bad head is skipped; a jump breaks the queue
                guard let head else { break }
                var written: UInt32 = 0
                if (try? queue.walk(head: head, into: chain)) != nil {
                    written = handle(chain)
                }
                queue.publishUsed(head: head, written: written)
                stopLock.lock()
                servedCount += 1
                stopLock.unlock()
                progressed = true
            }
            if progressed, queue.finishBatch(), let call { _ = vu_eventfd_signal(call) }
            progressed = false
        } while !isStopped && queue.hasPending
    }
}
