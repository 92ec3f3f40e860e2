import Foundation
import VirtQueue
import VirtioCryptoDevice
import VirtioCryptoWire

/// The data worker's batch path: `serve` may hand a request to IPsec-MB's lanes and answer it later
/// through a `UsedRingCompletion`, at the latest in `finishBatch`. A batch step runs sub-steps
/// (`QueueFuzzer.batchSteps`): data requests that stay on the ring until answered, each served with
/// an `othersWaiting` the input picks (or handled at once), control requests between them (a session
/// destroyed while its requests wait in the lanes), and ends of the batch where the input puts them
/// and always at the end. Every served chain must be answered exactly once, within its writable
/// length and with a status its revision defines, without a write into its readable buffers; and,
/// where the answer is deterministic, exactly as the lanes-off worker answers a copy of it.
extension QueueFuzzer {
    /// The completion the lanes worker answers through, and what it must answer: every chain served
    /// and not answered yet, by head.
    final class Batch: UsedRingCompletion {
        unowned let fuzzer: QueueFuzzer
        var waiting: [UInt16: Served] = [:]

        init(_ fuzzer: QueueFuzzer) { self.fuzzer = fuzzer }

        func complete(head: UInt16, written: UInt32) { fuzzer.batchAnswered(head, written, later: true) }
    }

    struct Served {
        var placement: Placement
        var writableLength: Int
        var opcode: Opcode?
        /// The lanes-off worker's answer to a copy: its used length and writable bytes (nil: not
        /// deterministic, or the copy could not be walked).
        var expected: (written: UInt32, bytes: [UInt8])?
    }

    /// The sub-step count byte (plus one), then each sub-step's op byte and the bytes it reads.
    func runBatch() {
        let count = 1 + Int(input.u8())
        batch = Batch(self)
        var steps = 0
        while steps < count, !input.isEmpty {
            let op = input.u8()
            run(Self.batchSteps[Int(op & 7)], shape: ChainShape(op >> 3))
            steps += 1
        }
        finishBatch()
        batch = nil
    }

    /// The lanes answer everything they hold; then no served chain may be left unanswered.
    func finishBatch() {
        guard let batch else { return }
        batchWorker.finishBatch(completion: batch)
        _ = dataQueue.finishBatch()
        if Self.trace {
            let lanes = device.statistics.multiBufferRequests
            FileHandle.standardError.write(Data("  batch finished (\(lanes) requests through the lanes so far)\n".utf8))
        }
        guard batch.waiting.isEmpty else {
            fatalError("finishBatch left served chains unanswered: heads \(batch.waiting.keys.sorted())")
        }
    }

    /// Serves the chain just posted on the data ring through the lanes worker. The route byte: bit 7
    /// `handle` (answered now), else `serve` with the low bits as `othersWaiting` (0: it runs now
    /// unless the lanes hold others).
    func serveBatch(_ placed: Placement, opcode: Opcode?, compare: Bool) {
        guard let batch else { return }
        let queue = dataQueue
        let chain = Self.chain
        queue.suppressNotifications()
        // One chain was posted (earlier drains took all the rest), unless it had no descriptors.
        var placement: Placement? = placed
        for _ in 0...Int(queue.layout.size) {
            let head: UInt16
            do throws(QueueError) {
                guard let next = try queue.nextAvailable() else { break }
                head = next
            } catch {
                break
            }
            do throws(QueueError) {
                try queue.walk(head: head, into: chain)
            } catch {
                queue.publishUsed(head: head, written: 0)
                continue
            }
            handled += 1
            guard batch.waiting[head] == nil else { fatalError("the fuzzer posted head \(head), still waiting") }
            let served = placement ?? Placement()
            placement = nil
            let expected = compare ? reference(head, served) : nil
            let route = input.u8()
            batch.waiting[head] = Served(
                placement: served, writableLength: chain.writableLength, opcode: opcode, expected: expected)
            let written: UInt32?
            if route & 0x80 != 0 {
                written = batchWorker.handle(chain)
            } else {
                written = batchWorker.serve(chain, head: head, othersWaiting: Int(route & 0x7f), completion: batch)
            }
            if Self.trace {
                let how = route & 0x80 != 0 ? "handle" : "serve, \(route & 0x7f) waiting"
                let line =
                    "data \(opcode.map { "\($0)" } ?? "-") head \(head) (\(how)): \(written == nil ? "later" : "now")\n"
                FileHandle.standardError.write(Data(line.utf8))
            }
            if let written { batchAnswered(head, written, later: false) }
        }
        _ = queue.finishBatch()
        _ = queue.enableNotifications()
    }

    /// The lanes-off worker's answer to the chain at `head` in a copy of the data ring (the same
    /// descriptors and bytes): the lanes worker has not seen the chain yet, and requests do not
    /// change the session table, so this is the answer the synchronous path gives the same request.
    func reference(_ head: UInt16, _ placement: Placement) -> (written: UInt32, bytes: [UInt8])? {
        let ring = dataRing
        let offset = Int(ring.guestBase - FuzzMemory.lowBase)
        // The data area's next free address: everything the chain uses lies below it.
        let end = Int(ring.allocate(count: 0) - FuzzMemory.lowBase)
        let count = min(end, Self.memory.low.count) - offset
        memcpy(Self.mirror.low.baseAddress! + offset, Self.memory.low.baseAddress! + offset, count)
        let chain = Self.mirrorChain
        do throws(QueueError) { try mirrorQueue.walk(head: head, into: chain) } catch {
            fatalError("the copy of head \(head) does not walk: \(error)")
        }
        handled += 1
        let written = worker.handle(chain)
        if Int(written) > chain.writableLength {
            fatalError("the device claims \(written) bytes written into \(chain.writableLength) writable")
        }
        let bytes = concatenated(
            placement.writable.map { part in
                let start = Self.mirror.low.baseAddress! + Int(part.address - FuzzMemory.lowBase)
                return [UInt8](UnsafeRawBufferPointer(start: start, count: part.count))
            })
        return (written, bytes)
    }

    /// A served chain answered, now (`serve` or `handle` returned its length) or `later` (through the
    /// completion): once, for a chain that was served, within its writable length, with a defined
    /// status, nothing device-readable written, and as the lanes-off worker answered it.
    func batchAnswered(_ head: UInt16, _ written: UInt32, later: Bool) {
        guard let batch, let served = batch.waiting.removeValue(forKey: head) else {
            fatalError("head \(head) answered (\(later ? "later" : "now")) but not waiting: never served, or twice")
        }
        if Int(written) > served.writableLength {
            fatalError(
                "the device claims \(written) bytes written into \(served.writableLength) writable (head \(head))")
        }
        dataQueue.publishUsed(head: head, written: written)
        verify(served.placement, on: .data)
        let got = self.written(served.placement, on: .data)
        let statusOffset = DataQueue.outcomeOffset(.inhdr, writableLength: got.count)
        if written > 0, let statusOffset {
            let status = Status(rawValue: UInt32(got[statusOffset]))
            if !status.isDefined(in: revision) {
                fatalError("the device answered \(status), which \(revision.id) does not define (head \(head))")
            }
        }
        if Self.trace {
            let status = statusOffset.map { "\(Status(rawValue: UInt32(got[$0])))" } ?? "none"
            let line = "  head \(head) answered \(later ? "later" : "now"): \(status) (used \(written))\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
        guard let expected = served.expected else { return }
        // What the used length says the device wrote (the writable part's first bytes), and the status.
        let result = min(max(0, Int(written) - DataQueue.Outcome.inhdr.size), got.count)
        guard written == expected.written, got.prefix(result) == expected.bytes.prefix(result),
            statusOffset.map({ got[$0] == expected.bytes[$0] }) ?? true
        else {
            let status = statusOffset.map { "\(Status(rawValue: UInt32(got[$0]))) " } ?? ""
            let apart = statusOffset.map { "\(Status(rawValue: UInt32(expected.bytes[$0]))) " } ?? ""
            let first = zip(got.prefix(result), expected.bytes.prefix(result)).enumerated().first { $1.0 != $1.1 }?
                .offset
            fatalError(
                "the lanes worker answered head \(head) (\(served.opcode.map { "\($0)" } ?? "-"), \(later ? "later" : "now")) \(status)(used \(written)), the lanes-off worker \(apart)(used \(expected.written)); of the first \(result) bytes, the first to differ: \(first.map { "\($0)" } ?? "none")"
            )
        }
    }

    /// Frees `kind`'s data area for a chain of at most `need` bytes: all of it, unless a batch still
    /// waits on chains whose buffers are there (a job reads and writes them when it runs); then only
    /// when the rest is too small, after the batch ends.
    func prepareData(_ kind: QueueKind, need: Int) {
        let ring = ring(kind)
        guard kind == .data, let batch, !batch.waiting.isEmpty else {
            ring.resetData()
            return
        }
        let end = FuzzMemory.lowBase + UInt64(Self.memory.low.count)
        if ring.allocate(count: 0) + UInt64(need) > end {
            finishBatch()
            ring.resetData()
        }
    }

    /// The descriptor slot the next chain on `kind` starts at: the next one round the table, past
    /// the heads a batch waits on (a driver reuses a head only once it is answered). With every slot
    /// waiting, the batch ends first.
    func startSlot(_ kind: QueueKind) -> Int {
        let size = Int(ring(kind).size)
        var start = nextDescriptor[kind == .control ? 0 : 1] % size
        guard kind == .data, let batch else { return start }
        if batch.waiting.count >= size { finishBatch() }
        while batch.waiting[UInt16(start)] != nil { start = (start + 1) % size }
        return start
    }
}
