import Testing
import VirtQueue
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// The README's example, kept compiling and correct.
struct ReadmeExampleTests {
    @Test func drivingTheDeviceCoreFromSwift() throws {
        let device = VirtioCryptoDevice()
        device.negotiate([])
        let controlRing = DriverRing()
        let dataRing = DriverRing()
        let controlq = try SplitQueue(memory: controlRing.memory, layout: controlRing.layout, eventIndex: false)
        let dataq = try SplitQueue(memory: dataRing.memory, layout: dataRing.layout, eventIndex: false)
        let chain = DescriptorChain()

        let key = [UInt8](repeating: 7, count: 16)
        let create = RequestBuilder.control(
            opcode: .cipherCreateSession,
            flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt))
        let sent = controlRing.submit(readable: [create, key], writable: [CreateSessionInput.size])
        let head = try controlq.nextAvailable()!
        try controlq.walk(head: head, into: chain)
        controlq.publishUsed(head: head, written: device.handleControl(chain))
        let session = try CreateSessionInput.decode(controlRing.written(sent))
        #expect(session.status == .ok)

        let worker = device.makeDataWorker()
        let request = RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: session.sessionId,
            flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 64))
        let job = dataRing.submit(
            readable: [request, [UInt8](repeating: 0, count: 16), [UInt8](repeating: 1, count: 64)],
            writable: [64, 1])
        let dataHead = try dataq.nextAvailable()!
        try dataq.walk(head: dataHead, into: chain)
        dataq.publishUsed(head: dataHead, written: worker.handle(chain))
        let ciphertextAndStatus = dataRing.written(job)
        #expect(ciphertextAndStatus.count == 65 && ciphertextAndStatus.last == 0)
        #expect(
            ciphertextAndStatus.prefix(64)
                == (try engineCBC(key, [UInt8](repeating: 0, count: 16), [UInt8](repeating: 1, count: 64), .encrypt))[
                    ...])
    }
}
