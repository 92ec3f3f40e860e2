import FuzzSupport
import VirtioCryptoWire

/// Every generated decoder, chosen by the input's first byte: each fixed struct in each form a
/// revision gives it (`WireCatalog.layouts(in:)` / `decode(_:from:in:)`), the request parsers of both
/// queues, and both generated dispatch entry points. The second byte is the negotiated features.
/// What is decoded must re-encode to bytes that decode to the same value; a mismatch is a crash.
enum WireTarget: Equatable {
    case structure(name: String, revision: SpecRevision)
    case request(QueueKind)
    case dispatch(QueueKind)

    /// The newest revision's structs, then each earlier form that is a type of its own or a name of
    /// its own, then the parsers and dispatchers. Computed from the catalog: a struct added to the
    /// spec is fuzzed without an edit here.
    static let all: [WireTarget] = {
        var targets: [WireTarget] = []
        var seen: Set<String> = []
        for revision in SpecRevision.allCases.reversed() {
            for name in WireCatalog.layouts(in: revision).keys.sorted() {
                let size = WireCatalog.layouts(in: revision)[name]!.size
                guard let value = try? WireCatalog.decode(name, from: [UInt8](repeating: 0, count: size), in: revision)
                else { fatalError("the catalog cannot decode \(name) of \(revision.id) from \(size) zeros") }
                if seen.insert("\(name) \(type(of: value))").inserted {
                    targets.append(.structure(name: name, revision: revision))
                }
            }
        }
        return targets + [.request(.control), .request(.data), .dispatch(.control), .dispatch(.data)]
    }()

    var selector: UInt8 { UInt8(WireTarget.all.firstIndex(of: self)!) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(UnsafeRawBufferPointer(start: data, count: size))
    let target = WireTarget.all[Int(input.u8()) % WireTarget.all.count]
    let features = CryptoFeatures(rawValue: UInt64(input.u8())).intersection(.all)
    switch target {
    case .structure(let name, let revision):
        let bytes = input.rest()
        let size = WireCatalog.layouts(in: revision)[name]!.size
        do throws(WireError) {
            guard let value = try WireCatalog.decode(name, from: bytes, in: revision) else {
                fatalError("the catalog lists \(name) in \(revision.id) but does not decode it")
            }
            if bytes.count < size { fatalError("\(name) decoded from \(bytes.count) bytes, fewer than its \(size)") }
            roundTrip(value, from: bytes, name: name, features: features)
        } catch {
            // Only a struct with a counted array (size is its fixed part) may need more than its size.
            if bytes.count >= size, WireCatalog.layouts(in: revision)[name]!.fields.allSatisfy({ $0.size > 0 }) {
                fatalError("\(name) did not decode from \(bytes.count) bytes (size \(size)): \(error)")
            }
        }
    case .request(let kind):
        requestRoundTrip(kind, bytes: input.rest(), features: features)
    case .dispatch(let kind):
        let revision = SpecRevision.allCases[Int(input.u8()) % SpecRevision.allCases.count]
        let writable = Int(input.le16())
        dispatch(kind, bytes: input.rest(), writable: writable, features: features, revision: revision)
    }
    return 0
}

/// decode(encode(x)) == x; the encoding is as long as the decoder read (the struct's size, or more
/// for a counted array) and stable; the validators (and the field reflection the vectors use) take
/// any value.
func roundTrip<T: WireStruct>(_ value: T, from bytes: [UInt8], name: String, features: CryptoFeatures) {
    let consumed = bytes.withUnsafeBytes { raw -> Int in
        var reader = WireReader(raw)
        guard (try? T(from: &reader)) != nil else { fatalError("\(name) decodes once and not twice") }
        return reader.offset
    }
    let encoded = value.encoded()
    guard encoded.count == consumed, encoded.count >= T.size else {
        fatalError("\(name) encodes to \(encoded.count) bytes, decoded from \(consumed) (size \(T.size))")
    }
    guard let again = try? T.decode(encoded) else { fatalError("\(name) does not decode its own encoding") }
    guard again == value else { fatalError("\(name): decode(encode(x)) != x: \(again) vs \(value)") }
    guard again.encoded() == encoded else { fatalError("\(name) re-encodes differently") }
    if let reflecting = value as? FieldReflecting, reflecting.fieldValues != (again as! FieldReflecting).fieldValues {
        fatalError("\(name): field values change in a round trip")
    }
    _ = value.violation(features: features)
}

/// A parsed request re-encodes (`encodeFLF`) to exactly its fixed part, which parses to the same
/// request; its segments tile the vlf from offset 0, per direction.
func requestRoundTrip(_ kind: QueueKind, bytes: [UInt8], features: CryptoFeatures) {
    bytes.withUnsafeBytes { raw in
        var reader = WireReader(raw)
        if kind == .control {
            guard let header = try? CtrlHeader(from: &reader),
                let layout = ControlQueue.layout(for: header, features: features),
                let size = ControlQueue.flfSize(opcode: header.opcode, layout: layout)
            else { return }
            let start = reader.offset
            let parsed: ControlQueueRequest?
            do throws(WireError) {
                parsed = try ControlQueue.parse(header: header, flf: &reader, features: features)
            } catch {
                if raw.count - start >= size {
                    fatalError("\(header.opcode) did not parse from \(raw.count - start) bytes")
                }
                return
            }
            guard let request = parsed, request.opcode == header.opcode, reader.offset - start == size else {
                fatalError(
                    "\(header.opcode) parsed as \(String(describing: parsed)) from \(reader.offset - start) bytes")
            }
            var writer = WireWriter()
            request.encodeFLF(into: &writer, layout: layout)
            guard writer.bytes.count == size else {
                fatalError("\(header.opcode) fixed part re-encodes to \(writer.bytes.count) bytes")
            }
            let again = writer.bytes.withUnsafeBytes { flf -> ControlQueueRequest? in
                var reader = WireReader(flf)
                return try? ControlQueue.parse(header: header, flf: &reader, features: features)
            }
            guard again == request else { fatalError("\(header.opcode): parse(encodeFLF(x)) != x") }
            checkTiling(request.segments, readable: request.readableLength, writable: request.writableLength)
        } else {
            guard let header = try? OpHeader(from: &reader),
                let layout = DataQueue.layout(for: header, features: features),
                let size = DataQueue.flfSize(opcode: header.opcode, layout: layout)
            else { return }
            let start = reader.offset
            let parsed: DataQueueRequest?
            do throws(WireError) {
                parsed = try DataQueue.parse(header: header, flf: &reader, features: features)
            } catch {
                if raw.count - start >= size {
                    fatalError("\(header.opcode) did not parse from \(raw.count - start) bytes")
                }
                return
            }
            guard let request = parsed, request.opcode == header.opcode, reader.offset - start == size else {
                fatalError(
                    "\(header.opcode) parsed as \(String(describing: parsed)) from \(reader.offset - start) bytes")
            }
            var writer = WireWriter()
            request.encodeFLF(into: &writer, layout: layout)
            guard writer.bytes.count == size else {
                fatalError("\(header.opcode) fixed part re-encodes to \(writer.bytes.count) bytes")
            }
            let again = writer.bytes.withUnsafeBytes { flf -> DataQueueRequest? in
                var reader = WireReader(flf)
                return try? DataQueue.parse(header: header, flf: &reader, features: features)
            }
            guard again == request else { fatalError("\(header.opcode): parse(encodeFLF(x)) != x") }
            checkTiling(request.segments, readable: request.readableLength, writable: request.writableLength)
        }
    }
}

/// The segments of each direction follow each other from offset 0 and end at that direction's length.
func checkTiling(_ segments: [NamedVlfSegment], readable: Int, writable: Int) {
    for (direction, total) in [(SegmentDirection.readable, readable), (.writable, writable)] {
        var end = 0
        for segment in segments.filter({ $0.direction == direction }).sorted(by: { $0.offset < $1.offset }) {
            guard segment.offset == end, segment.length >= 0 else {
                fatalError("segment \(segment.name) at \(segment.offset), expected \(end)")
            }
            end += segment.length
        }
        guard end == total else { fatalError("\(direction) segments end at \(end), the vlf has \(total)") }
    }
}

/// The readable bytes of a request as the fuzzer gives them, and a writable part of some length.
struct FuzzRequestBytes: RequestBytes {
    var bytes: [UInt8]
    var writableLength: Int
    var readableLength: Int { bytes.count }

    func read(at offset: Int, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        guard offset >= 0, destination.count <= bytes.count - offset else { return false }
        bytes.withUnsafeBytes {
            destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + destination.count]))
        }
        return true
    }
}

func dispatch(_ kind: QueueKind, bytes: [UInt8], writable: Int, features: CryptoFeatures, revision: SpecRevision) {
    let request = FuzzRequestBytes(bytes: bytes, writableLength: writable)
    let scratch = UnsafeMutableRawBufferPointer.allocate(
        byteCount: max(ControlQueue.prefixCapacity, DataQueue.prefixCapacity), alignment: 8)
    defer { scratch.deallocate() }
    let handler = DispatchChecker(bytes: request)
    if kind == .control {
        _ = try? ControlQueue.dispatch(request, features: features, revision: revision, scratch: scratch, to: handler)
    } else {
        _ = try? DataQueue.dispatch(request, features: features, revision: revision, scratch: scratch, to: handler)
    }
    guard handler.calls == 1 else { fatalError("dispatch called \(handler.calls) handler methods, not one") }
}

/// Checks what the generated dispatch promises a handler: exactly one call per request, and a
/// request that reaches a method has its vlf and outcome inside the buffers.
final class DispatchChecker {
    let bytes: FuzzRequestBytes
    var calls = 0

    init(bytes: FuzzRequestBytes) { self.bytes = bytes }

    struct Refused: Error {}
    typealias Failure = Refused
    typealias Output = Void

    func accept(vlfStart: Int, readable: Int, writable: Int, outcome: Int) {
        calls += 1
        guard vlfStart + readable <= bytes.readableLength, writable + outcome <= bytes.writableLength else {
            fatalError("dispatch accepted a request whose vlf (\(readable) + \(writable)) does not fit its buffers")
        }
    }
}

extension DispatchChecker: ControlQueueHandler {
    func refuse(_ violation: RuleViolation, frame: ControlQueue.Frame?) -> Refused {
        calls += 1
        return Refused()
    }
    func control(_ frame: ControlQueue.Frame, _ readable: Int, _ outcome: Int) {
        accept(vlfStart: frame.vlfStart, readable: readable, writable: 0, outcome: outcome)
    }
    func cipherCreateSession(_ frame: ControlQueue.Frame, _ flf: SymCreateSessionFlf, _ vlf: SymCreateSessionVlf) {
        control(frame, vlf.readableLength, CreateSessionInput.size)
    }
    func hashCreateSession(_ frame: ControlQueue.Frame, _ flf: HashCreateSessionFlf) {
        control(frame, 0, CreateSessionInput.size)
    }
    func macCreateSession(_ frame: ControlQueue.Frame, _ flf: MacCreateSessionFlf, _ vlf: MacCreateSessionVlf) {
        control(frame, vlf.readableLength, CreateSessionInput.size)
    }
    func aeadCreateSession(_ frame: ControlQueue.Frame, _ flf: AeadCreateSessionFlf, _ vlf: AeadCreateSessionVlf) {
        control(frame, vlf.readableLength, CreateSessionInput.size)
    }
    func akcipherCreateSession(
        _ frame: ControlQueue.Frame, _ flf: AkcipherCreateSessionFlf, _ vlf: AkcipherCreateSessionVlf
    ) {
        control(frame, vlf.readableLength, CreateSessionInput.size)
    }
    func cipherDestroySession(_ frame: ControlQueue.Frame, _ flf: DestroySessionFlf) {
        control(frame, 0, DestroySessionInput.size)
    }
    func hashDestroySession(_ frame: ControlQueue.Frame, _ flf: DestroySessionFlf) {
        control(frame, 0, DestroySessionInput.size)
    }
    func macDestroySession(_ frame: ControlQueue.Frame, _ flf: DestroySessionFlf) {
        control(frame, 0, DestroySessionInput.size)
    }
    func aeadDestroySession(_ frame: ControlQueue.Frame, _ flf: DestroySessionFlf) {
        control(frame, 0, DestroySessionInput.size)
    }
    func akcipherDestroySession(_ frame: ControlQueue.Frame, _ flf: DestroySessionFlf) {
        control(frame, 0, DestroySessionInput.size)
    }
}

extension DispatchChecker: DataQueueHandler {
    func refuse(_ violation: RuleViolation, frame: DataQueue.Frame?) -> Refused {
        calls += 1
        return Refused()
    }
    func data(_ frame: DataQueue.Frame, _ readable: Int, _ writable: Int) {
        accept(vlfStart: frame.vlfStart, readable: readable, writable: writable, outcome: Inhdr.size)
    }
    func cipherEncrypt(_ frame: DataQueue.Frame, _ flf: SymDataFlf, _ vlf: SymDataVlf) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func cipherEncryptStateless(_ frame: DataQueue.Frame, _ flf: SymDataFlfStateless, _ vlf: SymDataVlfStateless) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func cipherDecrypt(_ frame: DataQueue.Frame, _ flf: SymDataFlf, _ vlf: SymDataVlf) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func cipherDecryptStateless(_ frame: DataQueue.Frame, _ flf: SymDataFlfStateless, _ vlf: SymDataVlfStateless) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func hash(_ frame: DataQueue.Frame, _ flf: HashDataFlf, _ vlf: HashDataVlf) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func hashStateless(_ frame: DataQueue.Frame, _ flf: HashDataFlfStateless, _ vlf: HashDataVlfStateless) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func mac(_ frame: DataQueue.Frame, _ flf: MacDataFlf, _ vlf: MacDataVlf) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func macStateless(_ frame: DataQueue.Frame, _ flf: MacDataFlfStateless, _ vlf: MacDataVlfStateless) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func aeadEncrypt(_ frame: DataQueue.Frame, _ flf: AeadDataFlf, _ vlf: AeadDataVlf) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func aeadEncryptStateless(_ frame: DataQueue.Frame, _ flf: AeadDataFlfStateless, _ vlf: AeadDataVlfStateless) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func aeadDecrypt(_ frame: DataQueue.Frame, _ flf: AeadDataFlf, _ vlf: AeadDataVlf) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func aeadDecryptStateless(_ frame: DataQueue.Frame, _ flf: AeadDataFlfStateless, _ vlf: AeadDataVlfStateless) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func akcipherEncrypt(_ frame: DataQueue.Frame, _ flf: AkcipherDataFlf, _ vlf: AkcipherDataVlf) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func akcipherEncryptStateless(
        _ frame: DataQueue.Frame, _ flf: AkcipherDataFlfStateless, _ vlf: AkcipherDataVlfStateless
    ) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func akcipherDecrypt(_ frame: DataQueue.Frame, _ flf: AkcipherDataFlf, _ vlf: AkcipherDataVlf) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func akcipherDecryptStateless(
        _ frame: DataQueue.Frame, _ flf: AkcipherDataFlfStateless, _ vlf: AkcipherDataVlfStateless
    ) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func akcipherSign(_ frame: DataQueue.Frame, _ flf: AkcipherDataFlf, _ vlf: AkcipherDataVlf) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func akcipherSignStateless(
        _ frame: DataQueue.Frame, _ flf: AkcipherDataFlfStateless, _ vlf: AkcipherDataVlfStateless
    ) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func akcipherVerify(_ frame: DataQueue.Frame, _ flf: AkcipherDataFlf, _ vlf: AkcipherVerifyDataVlf) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func akcipherVerifyStateless(
        _ frame: DataQueue.Frame, _ flf: AkcipherDataFlfStateless, _ vlf: AkcipherVerifyDataVlfStateless
    ) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func ipsecOutbound(_ frame: DataQueue.Frame, _ flf: IpsecDataFlf, _ vlf: IpsecDataVlf) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
    func ipsecInbound(_ frame: DataQueue.Frame, _ flf: IpsecDataFlf, _ vlf: IpsecDataVlf) {
        data(frame, vlf.readableLength, vlf.writableLength)
    }
}

/// Seeds from Spec/generated/vectors.json: every struct vector and negative vector for its struct's
/// target, every request vector for its queue's parser and dispatcher.
func seeds() -> [Seed] {
    var seeds: [Seed] = []
    func structure(_ name: String) -> WireTarget { .structure(name: name, revision: .newest) }
    for (index, vector) in Repository.vectors("structs").enumerated() {
        let name = vector["struct"] as! String
        let bytes = [UInt8](vectorHex: vector["hex"] as! String)
        seeds.append(Seed("struct-\(String(format: "%02d", index))-\(name)", [structure(name).selector, 0] + bytes))
        // The same bytes in every earlier form that has a type of its own.
        for case .structure(let formName, let revision) in WireTarget.all where formName == name && revision != .newest
        {
            let size = WireCatalog.layouts(in: revision)[formName]!.size
            let form = Array((bytes + [UInt8](repeating: 0, count: size)).prefix(size))
            seeds.append(
                Seed(
                    "struct-\(String(format: "%02d", index))-\(name)-\(revision.id)",
                    [WireTarget.structure(name: formName, revision: revision).selector, 0] + form))
        }
    }
    for (index, vector) in Repository.vectors("negative").enumerated() {
        let name = vector["target"] as! String
        guard WireTarget.all.contains(structure(name)) else { continue }
        let features = (vector["features"] as? [String] ?? []).reduce(into: CryptoFeatures()) {
            $0.formUnion(CryptoFeatures.named($1) ?? [])
        }
        let bytes = [UInt8](vectorHex: vector["hex"] as! String)
        seeds.append(
            Seed(
                "negative-\(String(format: "%02d", index))-\(name)",
                [structure(name).selector, UInt8(features.rawValue)] + bytes))
    }
    for (index, vector) in Repository.vectors("requests").enumerated() {
        let kind: QueueKind = vector["queue"] as? String == "controlq" ? .control : .data
        let features = (vector["features"] as? [String] ?? []).reduce(into: CryptoFeatures()) {
            $0.formUnion(CryptoFeatures.named($1) ?? [])
        }
        let head =
            [UInt8](vectorHex: vector["header-hex"] as! String) + [UInt8](vectorHex: vector["flf-hex"] as! String)
        let segments = vector["segments"] as? [[String: Any]] ?? []
        let readable = segments.filter { $0["direction"] as? String == "readable" }.reduce(0) {
            $0 + ($1["length"] as! Int)
        }
        let writable =
            segments.filter { $0["direction"] as? String == "writable" }.reduce(0) { $0 + ($1["length"] as! Int) }
            + ((vector["outcome-sizes"] as? [Int])?.first ?? 1)
        let label = "\(String(format: "%02d", index))-\(vector["opcode"]!)-\(vector["layout"]!)"
        seeds.append(Seed("request-\(label)", [WireTarget.request(kind).selector, UInt8(features.rawValue)] + head))
        var dispatch: [UInt8] = [WireTarget.dispatch(kind).selector, UInt8(features.rawValue), 2]
        dispatch += [UInt8(writable & 0xff), UInt8(writable >> 8)]
        seeds.append(Seed("dispatch-\(label)", dispatch + head + [UInt8](repeating: 0x5a, count: readable)))
    }
    return seeds
}

/// SwiftPM's name for this executable's main (see FuzzDriver).
@_cdecl("FuzzWireDecoders_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.main(argc, argv, seeds: seeds) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
