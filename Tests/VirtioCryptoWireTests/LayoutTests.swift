import Testing
import VirtioCryptoWire

/// Struct sizes and offsets against the sizes the seed states and the Linux uapi header
/// (`include/uapi/linux/virtio_crypto.h`, 6.1) for the structs both define.
struct LayoutTests {
    @Test func sizesTheSeedStates() {
        #expect(HeaderSize.ctrlqOpSpecHdrLegacy == 56)
        #expect(HeaderSize.dataqOpSpecHdrLegacy == 48)
        #expect(HeaderSize.symSessOpSpecHdr == 48)
        #expect(HeaderSize.algChainSessOpSpecHdr == 16)
        #expect(HeaderSize.symDataReqHdr == 40)
        #expect(HeaderSize.symDataReqHdrStateless == 72)
        // Every session-create fixed part fits the legacy 56 bytes; every data one fits 48.
        for size in [
            SymCreateSessionFlf.size, HashCreateSessionFlf.size, MacCreateSessionFlf.size,
            AeadCreateSessionFlf.size, DestroySessionFlf.size,
        ] {
            #expect(size <= ControlQueue.legacyFLFSize)
        }
        for size in [SymDataFlf.size, HashDataFlf.size, MacDataFlf.size, AeadDataFlf.size] {
            #expect(size <= DataQueue.legacyFLFSize)
        }
        #expect(CipherDataFlfStateless.size <= 72 && AlgChainDataFlfStateless.size == 72)
        #expect(AlgChainSessionFlf.size == 48 && CipherSessionFlf.size == 16)
        #expect(HashCreateSessionFlf.size <= 16 && MacCreateSessionFlf.size <= 16)
        #expect(CipherDataFlf.size <= 40 && AlgChainDataFlf.size == 40)
    }

    /// (our struct, Linux uapi struct, size in Linux)
    static let linuxSizes: [(String, String, Int)] = [
        ("config", "virtio_crypto_config", 56),
        ("ctrl-header", "virtio_crypto_ctrl_header", 16),
        ("create-session-input", "virtio_crypto_session_input", 16),
        ("cipher-session-flf", "virtio_crypto_cipher_session_para", 16),
        ("hash-create-session-flf", "virtio_crypto_hash_session_para", 8),
        ("mac-create-session-flf", "virtio_crypto_mac_session_para", 16),
        ("aead-create-session-flf", "virtio_crypto_aead_session_para", 24),
        ("alg-chain-session-flf", "virtio_crypto_alg_chain_session_para", 48),
        ("sym-create-session-flf", "virtio_crypto_sym_create_session_req", 56),
        ("op-header", "virtio_crypto_op_header", 24),
        ("cipher-data-flf", "virtio_crypto_cipher_para", 16),
        ("hash-data-flf", "virtio_crypto_hash_para", 8),
        ("mac-data-flf", "virtio_crypto_mac_para", 8),
        ("alg-chain-data-flf", "virtio_crypto_alg_chain_data_para", 40),
        ("sym-data-flf", "virtio_crypto_sym_data_req", 48),
        ("inhdr", "virtio_crypto_inhdr", 1),
    ]

    @Test(arguments: linuxSizes)
    func sizeMatchesLinuxUAPI(ours: String, linux: String, size: Int) {
        #expect(WireCatalog.layouts[ours]?.size == size, "\(ours) vs \(linux)")
    }

    @Test func legacyRequestsAre72BytesOfHeaderAndPaddedFixedPart() {
        // Linux's virtio_crypto_op_ctrl_req and virtio_crypto_op_data_req are both 72 bytes.
        #expect(ControlQueue.headerSize + ControlQueue.legacyFLFSize == 72)
        #expect(DataQueue.headerSize + DataQueue.legacyFLFSize == 72)
    }

    @Test func offsetsMatchLinuxUAPI() throws {
        let config = try #require(WireCatalog.layouts["config"])
        let expected: [(String, Int)] = [
            ("status", 0), ("max-dataqueues", 4), ("crypto-services", 8), ("cipher-algo-l", 12), ("cipher-algo-h", 16),
            ("hash-algo", 20), ("mac-algo-l", 24), ("mac-algo-h", 28), ("aead-algo", 32), ("max-cipher-key-len", 36),
            ("max-auth-key-len", 40), ("akcipher-algo", 44), ("max-size", 48),
        ]
        for (field, offset) in expected { #expect(config.field(field)?.offset == offset, "config.\(field)") }

        let header = try #require(WireCatalog.layouts["op-header"])
        for (field, offset) in [("opcode", 0), ("algo", 4), ("session-id", 8), ("flag", 16), ("padding", 20)] {
            #expect(header.field(field)?.offset == offset, "op-header.\(field)")
        }
        let chain = try #require(WireCatalog.layouts["alg-chain-session-flf"])
        for (field, offset) in [
            ("alg-chain-order", 0), ("hash-mode", 4), ("cipher-hdr", 8), ("algo-flf", 24), ("aad-len", 40),
            ("padding", 44),
        ] {
            #expect(chain.field(field)?.offset == offset, "alg-chain-session-flf.\(field)")
        }
        let sym = try #require(WireCatalog.layouts["sym-data-flf"])
        #expect(sym.field("op-type")?.offset == 40)
        let symSession = try #require(WireCatalog.layouts["sym-create-session-flf"])
        #expect(symSession.field("op-type")?.offset == 48)
    }

    @Test func linuxCipherDataRequestParsesAsTheSeedsLegacyLayout() throws {
        // What Linux 6.1 sends for AES-CBC encrypt of 32 bytes (research/protocol.md §2.4).
        var writer = WireWriter()
        OpHeader(opcode: .cipherEncrypt, algo: 0, sessionId: 7, flag: [], padding: 0).encode(into: &writer)
        writer.le32(16)
        writer.le32(32)
        writer.le32(32)
        writer.le32(0)  // cipher para
        writer.zeros(24)  // rest of the 40-byte slot
        writer.le32(1)
        writer.le32(0)  // op_type CIPHER, padding
        #expect(writer.bytes.count == 72)
        let header = try OpHeader.decode(Array(writer.bytes[0..<24]))
        let request = try Array(writer.bytes[24...]).withUnsafeBytes { raw in
            var reader = WireReader(raw)
            return try DataQueue.parse(header: header, flf: &reader, features: [])
        }
        guard case .cipherEncrypt(let flf, let vlf)? = request, case .cipher(let cipher) = flf.opTypeFlf else {
            Issue.record("not a cipher request: \(String(describing: request))")
            return
        }
        #expect(cipher.ivLen == 16 && cipher.srcDataLen == 32 && cipher.dstDataLen == 32)
        #expect(vlf.readableLength == 48 && vlf.writableLength == 32)
    }
}
