import VirtQueue
import VirtioCryptoEngines
import VirtioCryptoWire

/// Access to one request's variable-length data: in place in guest memory when a segment
/// is contiguous, through the worker's bounce buffers when it is split or overlaps.
struct RequestIO {
    let chain: ChainBuffers
    /// Offset of the vlf in the readable stream (after header and fixed part).
    let vlfStart: Int
    let inputBounce: UnsafeMutableRawBufferPointer
    let outputBounce: UnsafeMutableRawBufferPointer
    /// Two slots for small copies (IVs, keys, AAD): the guest cannot change them mid-use.
    let small: UnsafeMutableRawBufferPointer

    var slotSize: Int { small.count / 3 }

    /// A readable segment: in place, or copied (`copy`, or when split over buffers, or when
    /// it overlaps `avoiding` without being the same bytes).
    @inline(__always)
    func input(
        _ segment: VlfSegment, copy: Bool = false, slot: Int = 0,
        avoiding output: UnsafeMutableRawBufferPointer? = nil
    ) throws(DataWorker.Failure) -> UnsafeRawBufferPointer {
        let offset = vlfStart + segment.offset
        if copy {
            guard segment.length <= slotSize else { throw .err }
            let target = UnsafeMutableRawBufferPointer(
                rebasing: small[(slot * slotSize)..<(slot * slotSize + segment.length)])
            guard chain.read(at: offset, into: target) else { throw .err }
            return UnsafeRawBufferPointer(target)
        }
        if let span = chain.readableSpan(at: offset, count: segment.length), !Self.overlapsPartially(span, output) {
            return span
        }
        guard segment.length <= inputBounce.count else { throw .err }
        let target = UnsafeMutableRawBufferPointer(rebasing: inputBounce[0..<segment.length])
        guard chain.read(at: offset, into: target) else { throw .err }
        return UnsafeRawBufferPointer(target)
    }

    /// True when two ranges share bytes but do not start at the same address: engines can
    /// work in place, not on shifted overlaps.
    @inline(__always)
    static func overlapsPartially(_ input: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer?) -> Bool {
        guard let output, let a = input.baseAddress, let b = output.baseAddress, input.count > 0, output.count > 0
        else { return false }
        let aEnd = a + input.count
        let bEnd = UnsafeRawPointer(b) + output.count
        let overlap = a < bEnd && UnsafeRawPointer(b) < aEnd
        return overlap && a != UnsafeRawPointer(b)
    }

    /// Where to put `count` output bytes for writable offset `offset`: in place when
    /// contiguous, else the output bounce buffer (then `commit` copies it out).
    @inline(__always)
    func outputBuffer(_ offset: Int, count: Int) throws(DataWorker.Failure) -> UnsafeMutableRawBufferPointer {
        if let span = chain.writableSpan(at: offset, count: count) { return span }
        guard count <= outputBounce.count else { throw .err }
        return UnsafeMutableRawBufferPointer(rebasing: outputBounce[0..<count])
    }

    /// Copies output from the bounce buffer into the chain (nothing when it was in place).
    @inline(__always)
    func commit(_ output: UnsafeMutableRawBufferPointer, at offset: Int) throws(DataWorker.Failure) {
        guard output.baseAddress == outputBounce.baseAddress, output.count > 0 else { return }
        guard chain.write(at: offset, from: UnsafeRawBufferPointer(output)) else { throw .err }
    }

    /// Scratch for a hash or MAC result (the third small slot).
    func resultBuffer(count: Int) throws(DataWorker.Failure) -> UnsafeMutableRawBufferPointer {
        guard count <= slotSize else { throw .err }
        return UnsafeMutableRawBufferPointer(rebasing: small[(2 * slotSize)..<(2 * slotSize + count)])
    }
}
