import Testing
import VirtioCryptoWire

/// Behaviour of the generated code beyond the vectors: open enums, layout choice by
/// features and flag, truncation, feature requirements.
struct SemanticsTests {
    @Test func unknownValuesDecodeAsUnknownAndRoundTrip() throws {
        #expect(CipherAlgorithm(rawValue: 99) == .unknown(99))
        #expect(CipherAlgorithm(rawValue: 99).rawValue == 99)
        #expect(Opcode(rawValue: 0x002) == .cipherCreateSession)
        let header = try CtrlHeader.decode([0xff, 0x7f, 0, 0] + [UInt8](repeating: 0, count: 12))
        #expect(header.opcode == .unknown(0x7fff))
        #expect(header.encoded().prefix(4) == [0xff, 0x7f, 0, 0])
        #expect(ControlQueue.layout(for: header, features: []) == nil, "an unknown opcode has no layout")
    }

    @Test func opcodesKnowTheirServiceAndQueue() {
        #expect(Opcode.aeadDecrypt.service == .aead)
        #expect(Opcode.hashCreateSession.queue == .control)
        #expect(Opcode.mac.queue == .data)
        #expect(Opcode.unknown(0x7ff).queue == nil)
    }

    @Test func flagIsIgnoredWithoutRevision1() {
        // Linux sends flag 0 and never negotiates REVISION_1: that is legacy session mode, never stateless.
        let header = OpHeader(opcode: .cipherEncrypt, flag: [])
        expectRule(.devDataFlagIgnoredWithoutRevision1, holds: DataQueue.layout(for: header, features: []) == .legacy)
        #expect(DataQueue.layout(for: header, features: [.revision1]) == .revision1)
        #expect(DataQueue.layout(for: header, features: [.revision1, .cipherStatelessMode]) == .stateless)
        let session = OpHeader(opcode: .cipherEncrypt, flag: .sessionMode)
        #expect(DataQueue.layout(for: session, features: [.revision1, .cipherStatelessMode]) == .revision1)
        // A stateless bit of another service does not make CIPHER stateless.
        #expect(DataQueue.layout(for: header, features: [.revision1, .hashStatelessMode]) == .revision1)
    }

    @Test func truncatedInputThrowsAndDoesNotOverread() {
        #expect(throws: WireError.truncated(offset: 20, needed: 4)) {
            try OpHeader.decode([UInt8](repeating: 0, count: 20))
        }
        let header = OpHeader(opcode: .hash, flag: [])
        #expect(throws: WireError.self) {
            try [UInt8](repeating: 0, count: 47).withUnsafeBytes { raw in
                var reader = WireReader(raw)
                _ = try DataQueue.parse(header: header, flf: &reader, features: [])
            }
        }
    }

    @Test func aShortFixedSizeStructThrowsAtTheFieldWhereItEnds() throws {
        // A fixed-size struct checks its size once, but the error names what a field-by-field read
        // stops at: a scalar (in a nested struct too), one element of a fixed array, or a whole slot.
        let cases: [(name: String, count: Int, error: WireError)] = [
            ("alg-chain-session-flf", 2, .truncated(offset: 0, needed: 4)),
            ("alg-chain-session-flf", 20, .truncated(offset: 20, needed: 4)),  // cipher_hdr.op
            ("alg-chain-session-flf", 30, .truncated(offset: 24, needed: 16)),  // the algo_flf slot
            ("alg-chain-session-flf", 47, .truncated(offset: 44, needed: 4)),
            ("ipsec-mode-cap", 2, .truncated(offset: 2, needed: 1)),  // reserved[1]
            ("ipsec-mode-cap", 30, .truncated(offset: 24, needed: 8)),
            ("sym-data-flf", 39, .truncated(offset: 0, needed: 40)),
        ]
        for (name, count, error) in cases {
            #expect(throws: error, "\(name) from \(count) bytes") {
                try WireCatalog.decode(name, from: [UInt8](repeating: 0, count: count), in: .v1_4)
            }
        }
        // A failed decode leaves the cursor where it was.
        let result: Result<Int, WireError> = [UInt8](repeating: 0, count: 28).withUnsafeBytes { raw in
            var reader = WireReader(raw)
            do throws(WireError) {
                try reader.skip(8)
                _ = try OpHeader(from: &reader)
                return .success(reader.offset)
            } catch {
                #expect(reader.offset == 8)
                return .failure(error)
            }
        }
        #expect(throws: WireError.truncated(offset: 28, needed: 4)) { try result.get() }
    }

    @Test func statelessFeaturesRequireRevision1() {
        expectRule(
            .featFeatureHashStatelessRequiresRevision1, .featFeatureMacStatelessRequiresRevision1,
            holds: CryptoFeatures([.hashStatelessMode, .macStatelessMode]).unmetRequirements == [
                .hashStatelessMode, .macStatelessMode,
            ])
        expectRule(
            .featFeatureCipherStatelessRequiresRevision1,
            holds: CryptoFeatures([.cipherStatelessMode]).unmetRequirements == [.cipherStatelessMode])
        #expect(CryptoFeatures([.revision1, .aeadStatelessMode]).unmetRequirements.isEmpty)
        #expect(CryptoFeatures.statelessMode(for: .mac) == .macStatelessMode)
        expectRule(
            .featFeatureAkcipherStatelessRequiresRevision1,
            holds: CryptoFeatures([.akcipherStatelessMode]).unmetRequirements == [.akcipherStatelessMode])
        #expect(CryptoFeatures.all.rawValue == 0b111111)
        #expect(CryptoFeatures.defined(in: .v23).rawValue == 0b11111)
        #expect(CryptoFeatures.defined(in: .v1_2).rawValue == 0b11111)
        #expect(CryptoFeatures.defined(in: .v1_4) == .all)
    }

    @Test func algorithmsMapToConfigMaskBits() {
        #expect(CipherAlgorithm.aesCbc.maskBit! == (0, 1 << 3))
        #expect(CipherAlgorithm.noCipher.maskBit == nil)
        #expect(MacAlgorithm.zucEia3.maskBit! == (1, 1 << 22))
        #expect(MacAlgorithm.hmacSha1.maskBit! == (0, 1 << 2))
    }

    @Test func slotMemberFollowsItsSelectorWhereverItSits() throws {
        // op_type comes after the slot it selects.
        let flf = SymCreateSessionFlf(
            opFlf: .cipher(CipherSessionFlf(algo: .aesCbc, keyLen: 16, op: .encrypt)), opType: .cipher)
        let decoded = try SymCreateSessionFlf.decode(flf.encoded())
        #expect(decoded == flf)
        let vlf = SymCreateSessionVlf(decoded)
        expectRule(.drvSlotSymSessionOpVlfMember, holds: vlf.readableLength == 16, "the cipher member's key")
        // Garbage in the unused part of the slot is ignored.
        var bytes = flf.encoded()
        bytes[20] = 0xee
        try expectRule(.devSlotSymSessionOpFlfUnusedIgnored, holds: try SymCreateSessionFlf.decode(bytes) == flf)
        // An unknown op_type leaves the slot unused.
        bytes[48] = 9
        #expect(try SymCreateSessionFlf.decode(bytes).opFlf == .unused)
    }

    @Test func chainAuthKeyLengthCountsOnlyWhenTheMacMemberIsSelected() {
        var chain = AlgChainSessionFlf(
            hashMode: .auth, cipherHdr: CipherSessionFlf(keyLen: 16),
            algoFlf: .auth(MacCreateSessionFlf(authKeyLen: 20)))
        #expect(AlgChainSessionVlf(chain).readableLength == 36)
        chain.hashMode = .plain
        chain.algoFlf = .plain(HashCreateSessionFlf(algo: .sha1, hashResultLen: 20))
        #expect(AlgChainSessionVlf(chain).readableLength == 16)
    }

    @Test func unusedSlotBytesAreIgnoredInEverySlot() throws {
        let chain = AlgChainSessionFlf(
            hashMode: .plain, algoFlf: .plain(HashCreateSessionFlf(algo: .sha256, hashResultLen: 32)))
        var bytes = chain.encoded()
        bytes[24 + 8] = 0x5a  // after the 8-byte hash member, inside the 16-byte algo_flf
        try expectRule(.devSlotAlgChainAlgoFlfUnusedIgnored, holds: try AlgChainSessionFlf.decode(bytes) == chain)

        let data = SymDataFlf(
            opTypeFlf: .cipher(CipherDataFlf(ivLen: 16, srcDataLen: 32, dstDataLen: 32)), opType: .cipher)
        bytes = data.encoded()
        bytes[16] = 0x5a
        bytes[39] = 0xa5  // after the 16-byte cipher member, inside the 40-byte slot
        try expectRule(.devSlotSymDataOpTypeFlfUnusedIgnored, holds: SymDataFlf.decode(bytes) == data)

        let stateless = SymDataFlfStateless(opTypeFlf: .cipher(CipherDataFlfStateless(ivLen: 16)), opType: .cipher)
        bytes = stateless.encoded()
        bytes[24] = 0x5a
        bytes[71] = 0xa5  // after the 24-byte stateless cipher member, inside the 72-byte slot
        try expectRule(
            .devSlotSymDataStatelessOpTypeFlfUnusedIgnored, holds: SymDataFlfStateless.decode(bytes) == stateless)
    }

    /// The data vlf is read as the member of the op_type the fixed part selects.
    @Test func dataVlfFollowsTheSelectedMember() {
        let cipher = SymDataFlf(
            opTypeFlf: .cipher(CipherDataFlf(ivLen: 16, srcDataLen: 32, dstDataLen: 32)), opType: .cipher)
        expectRule(
            .drvSlotSymDataOpTypeVlfMember,
            holds: SymDataVlf(cipher).readableLength == 16 + 32 && SymDataVlf(cipher).writableLength == 32)
        let chain = SymDataFlf(
            opTypeFlf: .algorithmChaining(
                AlgChainDataFlf(
                    ivLen: 16, srcDataLen: 32, dstDataLen: 32, aadLen: 8,
                    hashResultLen: 20)), opType: .algorithmChaining)
        expectRule(
            .drvSlotSymDataOpTypeVlfMember,
            holds: SymDataVlf(chain).readableLength == 16 + 32 + 8 && SymDataVlf(chain).writableLength == 32 + 20)
        let stateless = SymDataFlfStateless(
            opTypeFlf: .cipher(
                CipherDataFlfStateless(
                    sessPara: CipherSessPara(algo: .aesCbc, keyLen: 16, op: .encrypt), ivLen: 16, srcDataLen: 32,
                    dstDataLen: 32)), opType: .cipher)
        expectRule(
            .drvSlotSymDataStatelessOpTypeVlfMember,
            holds: SymDataVlfStateless(stateless).readableLength == 16 + 16 + 32)
    }
}
