import Testing
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// One test per rule the device refuses requests for: a request that breaks exactly that
/// rule, through the device, with the status and the per-rule counter asserted. Removing
/// the rule's check from the YAML or the generator (or the device core, for checks) makes
/// its test fail.
struct RuleViolationTests {
    static let hmacKey = [UInt8](repeating: 0x0b, count: 20)
    static let iv12 = [UInt8](repeating: 1, count: 12)

    // MARK: control queue

    @Test func controlOpcodeOutsideTheControlQueue() throws {
        let harness = try Harness()
        try harness.expectViolation(.drvSessionCreateOpcodeByService, status: .notsupp) {
            try harness.createStatus([RequestBuilder.control(opcode: .cipherEncrypt, flf: DestroySessionFlf())])
        }
    }

    @Test func symmetricSessionWithoutAnOpFlfMember() throws {
        let harness = try Harness()
        try harness.expectViolation(.drvSlotSymSessionOpFlfMember, status: .notsupp) {
            try harness.createStatus([
                RequestBuilder.control(opcode: .cipherCreateSession, flf: SymCreateSessionFlf(opType: .noOperation))
            ])
        }
    }

    @Test func chainingSessionWithoutAnAlgoFlfMember() throws {
        let harness = try Harness()
        let nested = SymCreateSessionFlf(
            opFlf: .algorithmChaining(
                AlgChainSessionFlf(
                    algChainOrder: .cipherThenHash, hashMode: .nested,
                    cipherHdr: CipherSessionFlf(algo: .aesCbc, keyLen: 16, op: .encrypt))),
            opType: .algorithmChaining)
        try harness.expectViolation(.drvSlotAlgChainAlgoFlfMember, status: .notsupp) {
            try harness.createStatus([RequestBuilder.control(opcode: .cipherCreateSession, flf: nested), key16])
        }
    }

    @Test func createSessionWhoseKeyIsShorterThanItsLength() throws {
        let harness = try Harness()
        let create = RequestBuilder.control(
            opcode: .cipherCreateSession, flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt))
        try harness.expectViolation(.drvSessionCreateRequestPartsInOrder, status: .err) {
            try harness.createStatus([create, Array(key16.prefix(8))])
        }
        #expect(harness.device.sessions.count == 0)
    }

    @Test func destroyOfASessionThatDoesNotExist() throws {
        let harness = try Harness()
        try harness.expectViolation(.drvSessionDestroyValidSessionId, status: .err) {
            try harness.destroyStatus([
                RequestBuilder.control(opcode: .cipherDestroySession, flf: DestroySessionFlf(sessionId: 42))
            ])
        }
    }

    // MARK: data queue framing and header

    @Test func dataOpcodeTheSpecDoesNotDefine() throws {
        let harness = try Harness()
        try harness.expectViolation(.drvDataOpcodeDefined, status: .notsupp) {
            try harness.dataStatus([RequestBuilder.data(opcode: .unknown(0x7ff), flf: HashDataFlf())], writable: [1])
        }
    }

    @Test func dataRequestShorterThanItsHeader() throws {
        let harness = try Harness()
        try harness.expectViolation(.drvDataRequestPartsInOrder, status: .err) {
            try harness.dataStatus([[1, 2, 3]], writable: [1])
        }
    }

    @Test func dataRequestWhoseSourceRunsPastItsBuffers() throws {
        let harness = try Harness()
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        let head = RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: id, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 64))
        try harness.expectViolation(.drvDataRequestPartsInOrder, status: .err) {
            try harness.dataStatus([head, iv16, Array(block64.prefix(32))], writable: [64, 1])
        }
    }

    /// With REVISION_1 but not the service's stateless feature, flag 0 is refused.
    @Test func flagZeroWithoutTheStatelessFeature() throws {
        let harness = try Harness(features: [.revision1])
        func send(_ opcode: Opcode) throws -> Status {
            try harness.dataStatus(
                [RequestBuilder.data(opcode: opcode, flag: [], flf: HashDataFlf(), layout: .revision1)], writable: [1])
        }
        try harness.expectViolation(.devDataRejectFlagZeroCipher, status: .notsupp) { try send(.cipherEncrypt) }
        try harness.expectViolation(.devDataRejectFlagZeroHash, status: .notsupp) { try send(.hash) }
        try harness.expectViolation(.devDataRejectFlagZeroMac, status: .notsupp) { try send(.mac) }
        try harness.expectViolation(.devDataRejectFlagZeroAead, status: .notsupp) { try send(.aeadEncrypt) }
    }

    /// With the stateless feature, a flag that names neither mode is refused.
    @Test func flagThatNamesNoMode() throws {
        let harness = try Harness(features: [
            .revision1, .cipherStatelessMode, .hashStatelessMode, .macStatelessMode,
            .aeadStatelessMode,
        ])
        func send(_ opcode: Opcode) throws -> Status {
            try harness.dataStatus(
                [
                    RequestBuilder.data(
                        opcode: opcode, flag: RequestFlag(rawValue: 3), flf: HashDataFlf(),
                        layout: .revision1)
                ], writable: [1])
        }
        try harness.expectViolation(.drvSymFlagByMode, status: .err) { try send(.cipherDecrypt) }
        try harness.expectViolation(.drvHashFlagByMode, status: .err) { try send(.hash) }
        try harness.expectViolation(.drvMacFlagByMode, status: .err) { try send(.mac) }
        try harness.expectViolation(.drvAeadFlagByMode, status: .err) { try send(.aeadDecrypt) }
    }

    @Test func cipherRequestWithoutAnOpTypeFlfMember() throws {
        let harness = try Harness()
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        try harness.expectViolation(.drvSlotSymDataOpTypeFlfMember, status: .notsupp) {
            try harness.dataStatus(
                [RequestBuilder.data(opcode: .cipherEncrypt, sessionID: id, flf: SymDataFlf(opType: .noOperation))],
                writable: [1])
        }
    }

    @Test func statelessCipherRequestWithoutAnOpTypeFlfMember() throws {
        let harness = try Harness(features: [.revision1, .cipherStatelessMode])
        try harness.expectViolation(.drvSlotSymDataStatelessOpTypeFlfMember, status: .notsupp) {
            try harness.dataStatus(
                [
                    RequestBuilder.data(
                        opcode: .cipherEncrypt, flf: SymDataFlfStateless(opType: .noOperation),
                        layout: .stateless)
                ], writable: [1])
        }
    }

    // MARK: device-core checks

    @Test func sessionIDsThatNameNoSessionOfTheService() throws {
        let harness = try Harness()
        let cipher = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        try harness.expectViolation(.drvSymSessionIdValid, status: .invsess) {
            try harness.cipher(session: 999, iv: iv16, input: block64).0
        }
        try harness.expectViolation(.drvHashSessionIdValid, status: .invsess) {
            try harness.dataStatus(
                [
                    RequestBuilder.data(
                        opcode: .hash, sessionID: cipher, flf: HashDataFlf(srcDataLen: 3, hashResultLen: 20)),
                    [1, 2, 3],
                ], writable: [20, 1])
        }
        try harness.expectViolation(.drvMacSessionIdValid, status: .invsess) {
            try harness.dataStatus(
                [
                    RequestBuilder.data(
                        opcode: .mac, sessionID: 77, flf: MacDataFlf(hdr: HashDataFlf(srcDataLen: 3, hashResultLen: 20))
                    ),
                    [1, 2, 3],
                ], writable: [20, 1])
        }
        let flf = AeadDataFlf(ivLen: 12, srcDataLen: 16, dstDataLen: 32, tagLen: 16)
        try harness.expectViolation(.drvAeadSessionIdValid, status: .invsess) {
            try harness.dataStatus(
                [
                    RequestBuilder.data(opcode: .aeadEncrypt, sessionID: cipher, flf: flf), Self.iv12,
                    block64.prefix(16).map { $0 },
                ],
                writable: [32, 1])
        }
    }

    @Test func cipherOpcodeAgainstItsSessionsDirection() throws {
        let harness = try Harness()
        let encrypt = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        try harness.expectViolation(.drvSymOpcode, status: .err) {
            try harness.cipher(session: encrypt, opcode: .cipherDecrypt, iv: iv16, input: block64).0
        }
        #expect(try harness.cipher(session: encrypt, opcode: .cipherEncrypt, iv: iv16, input: block64).0 == .ok)
    }

    @Test func aeadOpcodeAgainstItsSessionsDirection() throws {
        let harness = try Harness()
        let encrypt = try harness.createSession(
            RequestBuilder.control(
                opcode: .aeadCreateSession,
                flf: AeadCreateSessionFlf(algo: .gcm, keyLen: 16, tagLen: 16, op: .encrypt)),
            keys: [key16]
        ).1
        let flf = AeadDataFlf(ivLen: 12, srcDataLen: 16, dstDataLen: 32, tagLen: 16)
        try harness.expectViolation(.drvAeadOpcode, status: .err) {
            try harness.dataStatus(
                [
                    RequestBuilder.data(opcode: .aeadDecrypt, sessionID: encrypt, flf: flf), Self.iv12,
                    Array(block64.prefix(32)),
                ],
                writable: [32, 1])
        }
    }

    @Test func cipherDestinationShorterThanItsSource() throws {
        let harness = try Harness()
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        try harness.expectViolation(.drvSymCipherFields, status: .err) {
            try harness.cipher(session: id, iv: iv16, input: block64, destinationLength: 32).0
        }
    }

    @Test func chainingOffsetsOutsideTheSource() throws {
        let harness = try Harness()
        let chainFLF = SymCreateSessionFlf(
            opFlf: .algorithmChaining(
                AlgChainSessionFlf(
                    algChainOrder: .cipherThenHash, hashMode: .auth,
                    cipherHdr: CipherSessionFlf(algo: .aesCbc, keyLen: 16, op: .encrypt),
                    algoFlf: .auth(MacCreateSessionFlf(algo: .hmacSha1, hashResultLen: 20, authKeyLen: 20)))),
            opType: .algorithmChaining)
        let (status, id) = try harness.createSession(
            RequestBuilder.control(opcode: .cipherCreateSession, flf: chainFLF),
            keys: [key16, Self.hmacKey])
        #expect(status == .ok)
        let beyond = SymDataFlf(
            opTypeFlf: .algorithmChaining(
                AlgChainDataFlf(
                    ivLen: 16, srcDataLen: 64, dstDataLen: 64, cipherStartSrcOffset: 16,
                    lenToCipher: 64, lenToHash: 64, hashResultLen: 20)),
            opType: .algorithmChaining)
        try harness.expectViolation(.drvSymAlgChainFields, status: .err) {
            try harness.dataStatus(
                [RequestBuilder.data(opcode: .cipherEncrypt, sessionID: id, flf: beyond), iv16, block64],
                writable: [64, 20, 1])
        }
    }
}
