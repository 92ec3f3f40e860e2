import Testing
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// The daemon's backend as a device of each spec revision (`vhost-user-crypto --spec-revision`),
/// driven over vhost-user: what it offers, its config fields and the outcomes it writes all come
/// from the generated revision tables.
struct RevisionTests {
    /// What every revision says of the same device; each case lists what differs.
    struct Expectation: Sendable, CustomTestStringConvertible {
        var revision: SpecRevision
        /// The name of the config field at offset 44 in that revision.
        var configField44: String
        /// The bytes a destroy writes into an 8-byte outcome area.
        var destroyOutcome: [UInt8]
        /// Whether the revision defines AKCIPHER (service, opcodes, feature bit 5, akcipher_algo).
        var definesAkcipher: Bool
        var testDescription: String { revision.id }
    }

    static let revisions: [Expectation] = [
        Expectation(
            revision: .v23, configField44: "reserved", destroyOutcome: [0, 0, 0, 0, 0, 0, 0, 0], definesAkcipher: false),
        Expectation(revision: .v1_2, configField44: "reserved", destroyOutcome: [0], definesAkcipher: false),
        Expectation(revision: .v1_4, configField44: "akcipher-algo", destroyOutcome: [0], definesAkcipher: true),
    ]

    @Test(arguments: revisions)
    func theBackendIsADeviceOfTheChosenRevision(_ expected: Expectation) throws {
        let revision = expected.revision
        #expect(Self.revisions.map(\.revision) == SpecRevision.allCases)
        let pair = try BackendPair(limits: DeviceLimits(), slices: 2, revision: revision)
        let transport = VhostUserTransport(frontend: pair.frontend)
        let driver = CryptoDriver(transport: transport, dataQueues: 1)
        try driver.start()

        // What it offers: features, services and algorithms the revision defines, nothing else.
        let offered = try transport.deviceFeatures()
        #expect(CryptoFeatures.defined(in: revision).isSuperset(of: offered))
        let symmetric: CryptoFeatures = [
            .revision1, .cipherStatelessMode, .hashStatelessMode, .macStatelessMode,
            .aeadStatelessMode,
        ]
        #expect(offered == (expected.definesAkcipher ? symmetric.union(.akcipherStatelessMode) : symmetric))
        let config = try transport.readConfig()
        #expect(config == pair.device.config && config == config.restricted(to: revision))
        let capabilities = DeviceCapabilities(config)
        #expect(
            capabilities.services
                == (expected.definesAkcipher
                    ? [.cipher, .hash, .mac, .aead, .akcipher]
                    : [.cipher, .hash, .mac, .aead]))
        #expect(capabilities.akciphers == (expected.definesAkcipher ? [.rsa, .ecdsa] : []))
        #expect(capabilities.services.allSatisfy { $0.isDefined(in: revision) })
        #expect(capabilities.ciphers.allSatisfy { $0.isDefined(in: revision) } && !capabilities.ciphers.isEmpty)

        // The config fields, as the revision names them.
        let layout = try #require(WireCatalog.layouts(in: revision)["config"])
        #expect(layout.size == 56)
        #expect(layout.fields.first { $0.offset == 44 }?.name == expected.configField44)

        // The destroy outcome: v23's le32 status + le32 padding, one u8 status since v1.2, even
        // where the driver leaves 8 bytes for it.
        let session = try driver.aesCbcSession()
        let destroy = RequestBuilder.control(
            opcode: .cipherDestroySession, flf: DestroySessionFlf(sessionId: session.id),
            layout: .revision1)
        #expect(try transport.submitControl(readable: [destroy], writable: [8]).written == expected.destroyOutcome)
        #expect(pair.device.sessions.count == 0)

        // AKCIPHER exists only from v1.4: before, its opcode is as undefined as any other value.
        let akcipher = RequestBuilder.control(
            opcode: .akcipherCreateSession, flf: AkcipherCreateSessionFlf(),
            layout: .revision1)
        let before = pair.device.statistics.violations(of: .drvSessionCreateOpcodeByService)
        let answer = try CreateSessionInput.decode(
            try transport.submitControl(readable: [akcipher], writable: [CreateSessionInput.size]).bytes)
        #expect(answer.status == .notsupp)
        let counted = pair.device.statistics.violations(of: .drvSessionCreateOpcodeByService) - before
        #expect(counted == (expected.definesAkcipher ? 0 : 1))
        #expect(Opcode.akcipherCreateSession.isDefined(in: revision) == expected.definesAkcipher)
    }

    @Test func theRevisionTablesSayWhatEachRevisionDefines() {
        #expect(SpecRevision.newest == .v1_4)
        #expect(SpecRevision.allCases.map(\.id) == ["v23", "v1.2", "v1.4"])
        #expect(Service.known(in: .v23) == [.cipher, .hash, .mac, .aead])
        #expect(Service.known(in: .v1_4) == [.cipher, .hash, .mac, .aead, .akcipher, .ipsec])
        #expect(Status.keyRejected.since == .v1_4 && !Status.keyRejected.isDefined(in: .v1_2))
        #expect(Opcode.ipsecInbound.isDefined(in: .v1_4) && !Opcode.ipsecInbound.isDefined(in: .v1_2))
        // A config field an earlier revision reserves reads as zero there.
        var config = Config(akcipherAlgo: 0b110)
        config.cryptoServices = 0b11_1111
        #expect(config.restricted(to: .v1_4).akcipherAlgo == 0b110)
        #expect(config.restricted(to: .v1_2).akcipherAlgo == 0)
        #expect(config.restricted(to: .v23).cryptoServices == 0b1111)
        // The destroy outcome's two forms.
        #expect(DestroySessionInputV23.size == 8 && DestroySessionInput.size == 1)
        #expect(
            ControlQueue.outcome(opcode: .macDestroySession, capacity: 8, revision: .v23) == .destroySessionInputV23)
        #expect(ControlQueue.outcome(opcode: .macDestroySession, capacity: 1, revision: .v23) == .inhdr)
        #expect(ControlQueue.outcome(opcode: .macDestroySession, capacity: 8, revision: .v1_2) == .destroySessionInput)
        // Rules carry their revision.
        #expect(RuleTable.info(.drvConfigCipherKeyLenWithinMax)?.since == .v1_2)
        #expect(RuleTable.info(.drvConfigCipherKeyLenWithinMax)?.isDefined(in: .v23) == false)
    }
}
