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
    private(set) var served = 0

    init(queue: SplitQueue, kick: Int32, call: Int32?, name: String, handle: @escaping (DescriptorChain) -> UInt32) {
        self.queue = queue
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
                served += 1
                progressed = true
            }
            if progressed, queue.finishBatch(), let call { _ = vu_eventfd_signal(call) }
            progressed = false
        } while !isStopped && queue.hasPending
    }
}
