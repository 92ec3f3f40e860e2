import VirtioCryptoWire

/// Builds the device-readable head of requests (header + fixed-length part, padded as
/// the layout says) from the generated codecs.
public enum RequestBuilder {
    /// A control queue request head: `virtio_crypto_ctrl_header` + `op_flf`.
    public static func control(opcode: Opcode, algo: UInt32 = 0, flf: some WireStruct, layout: RequestLayout = .legacy)
        -> [UInt8]
    {
        var writer = WireWriter(capacity: 72)
        CtrlHeader(opcode: opcode, algo: algo).encode(into: &writer)
        append(flf, layout == .legacy ? ControlQueue.legacyFLFSize : nil, &writer)
        return writer.bytes
    }

    /// A data queue request head: `virtio_crypto_op_header` + `op_flf`.
    public static func data(
        opcode: Opcode, sessionID: UInt64 = 0, flag: RequestFlag = [], algo: UInt32 = 0,
        flf: some WireStruct, layout: RequestLayout = .legacy
    ) -> [UInt8] {
        var writer = WireWriter(capacity: 72)
        OpHeader(opcode: opcode, algo: algo, sessionId: sessionID, flag: flag).encode(into: &writer)
        append(flf, layout == .legacy ? DataQueue.legacyFLFSize : nil, &writer)
        return writer.bytes
    }

    private static func append(_ flf: some WireStruct, _ paddedSize: Int?, _ writer: inout WireWriter) {
        let start = writer.bytes.count
        flf.encode(into: &writer)
        if let paddedSize { writer.pad(from: start, to: paddedSize) }
    }

    /// The fixed part of a cipher-only symmetric session.
    public static func cipherSession(_ algorithm: CipherAlgorithm, keyLength: Int, op: Op) -> SymCreateSessionFlf {
        SymCreateSessionFlf(
            opFlf: .cipher(CipherSessionFlf(algo: algorithm, keyLen: UInt32(keyLength), op: op)), opType: .cipher)
    }

    /// The fixed part of a cipher-only data request.
    public static func cipherData(ivLength: Int, sourceLength: Int, destinationLength: Int? = nil) -> SymDataFlf {
        SymDataFlf(
            opTypeFlf: .cipher(
                CipherDataFlf(
                    ivLen: UInt32(ivLength), srcDataLen: UInt32(sourceLength),
                    dstDataLen: UInt32(destinationLength ?? sourceLength))), opType: .cipher)
    }
}
