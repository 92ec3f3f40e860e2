/// The raw library's figures for one cell, each on as many threads as the daemon has workers
/// (one per queue), every thread on its own buffers and contexts: one request per call on a
/// hot buffer pair, the same over as many distinct buffers as its queue keeps in flight, and
/// (where IPsec-MB has a job for the workload) `depth` IPsec-MB jobs submitted and flushed.
final class RawPaths {
    enum Path: String, CaseIterable {
        /// One request per library call, one hot buffer pair: what `ratio` divides by.
        case single
        /// One request per call over as many distinct buffers as the queue keeps in flight.
        case singleDistinctBuffers = "single-distinct-buffers"
        /// `depth` independent IPsec-MB jobs on distinct buffers, then a flush.
        case ipsecMBJobs = "ipsec-mb-jobs"
    }

    struct Rates {
        var single: Double, spread: Double, batch: Double?

        /// The fastest raw path of the round.
        var best: (path: Path, rate: Double) {
            var best = (path: Path.single, rate: single)
            if spread > best.rate { best = (.singleDistinctBuffers, spread) }
            if let batch, batch > best.rate { best = (.ipsecMBJobs, batch) }
            return best
        }
    }

    let threads: Int
    private let single: [RawWork]
    private let spread: [RawWork]
    /// nil when IPsec-MB has no job for the workload, or when its output did not match.
    private let batch: [RawWork]?
    private let batches: [IPsecMBBatch]
    /// Why the batch path does not count: its output differed from the single-request path's.
    let batchMismatch: String?

    /// Raw IPsec-MB jobs that completed with an error status while timed.
    var batchFailures: Int { batches.reduce(0) { $0 + $1.failed } }

    init(_ cell: VringBenchmark.Cell, pipelines: [PipelinedRing], sharedData: Bool) throws {
        let workload = cell.workload
        let size = cell.size
        threads = pipelines.count
        single = try pipelines.map { _ in RawWork(try workload.rawOperation(size: size)) }
        spread = try pipelines.map {
            RawWork(try workload.rawOperation(size: size, buffers: sharedData ? 1 : $0.depth))
        }
        let batches = pipelines.compactMap { IPsecMBBatch(workload: workload, size: size, count: $0.depth) }
        guard !batches.isEmpty, batches.count == pipelines.count else {
            (self.batches, batch, batchMismatch) = ([], nil, nil)
            return
        }
        // A wrong fast path must not count: every batch's every output is checked against the
        // single-request path (OpenSSL; for SNOW 3G, IPsec-MB's one-buffer call) on the same input.
        let reference = try workload.rawCall(size: size)
        let length = workload.outputLength(size: size)
        for (thread, candidate) in batches.enumerated() {
            if let index = candidate.firstMismatch(outputLength: length, reference: reference) {
                let library = workload == .snow3g ? "IPsec-MB's one-buffer call" : "OpenSSL"
                (self.batches, batch) = ([], nil)
                batchMismatch =
                    "raw IPsec-MB job output \(index) (thread \(thread)) differs from \(library): the batch path is not counted"
                return
            }
        }
        self.batches = batches
        batch = batches.map { candidate in RawWork(requestsPerCall: candidate.count) { candidate.run() } }
        batchMismatch = nil
    }

    /// One round of every raw path; the per-request paths get `seconds`, the others half of it.
    func measure(seconds: Double) -> Rates {
        Rates(
            single: RawRate.measure(single, seconds: seconds), spread: RawRate.measure(spread, seconds: seconds / 2),
            batch: batch.map { RawRate.measure($0, seconds: seconds / 2) })
    }
}
