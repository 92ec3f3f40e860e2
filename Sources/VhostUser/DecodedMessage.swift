import VirtQueue
import WireBytes

/// A front-end message decoded once, with its payload's exact size and its descriptor count
/// checked: the back-end acts on these values, never on payload bytes.
public enum DecodedMessage: Equatable, Sendable {
    case getFeatures
    case setFeatures(UInt64)
    case setOwner
    case resetOwner
    case getProtocolFeatures
    case setProtocolFeatures(UInt64)
    case getQueueNum
    case setMemTable(MemoryTable)
    case setVringNum(VringState)
    case setVringBase(VringState)
    case getVringBase(VringState)
    case setVringAddr(VringAddress)
    case setVringKick(VringFile)
    case setVringCall(VringFile)
    case setVringErr(VringFile)
    case setVringEnable(VringState)
    case getConfig(ConfigRange)
    /// Any other request: the device's extension messages (crypto sessions), or refused.
    case other(UInt32)

    /// Decodes `message`'s payload for its request. Descriptors are counted, not taken.
    public static func decode(_ message: VhostUserMessage) throws(MessageRefusal) -> DecodedMessage {
        guard let request = VhostUserRequest(rawValue: message.request) else { return .other(message.request) }
        let result: Result<DecodedMessage, MessageRefusal> = message.payload.withUnsafeBytes { raw in
            var reader = WireReader(raw)
            do throws(MessageRefusal) {
                let decoded = try decode(request, &reader)
                // The device's requests have layouts of their own; every other payload is exact.
                if case .other = decoded { return .success(decoded) }
                guard reader.remaining == 0 else { throw .payloadSize(expected: reader.offset) }
                return .success(decoded)
            } catch {
                return .failure(error)
            }
        }
        let decoded = try result.get()
        let expected = decoded.descriptorCount
        guard expected == nil || expected == message.fds.count else {
            throw .descriptorCount(expected: expected ?? 0, actual: message.fds.count)
        }
        return decoded
    }

    private static func decode(_ request: VhostUserRequest, _ reader: inout WireReader) throws(MessageRefusal)
        -> DecodedMessage
    {
        switch request {
        case .getFeatures: return .getFeatures
        case .setFeatures: return .setFeatures(try u64(&reader))
        case .setOwner: return .setOwner
        case .resetOwner: return .resetOwner
        case .getProtocolFeatures: return .getProtocolFeatures
        case .setProtocolFeatures: return .setProtocolFeatures(try u64(&reader))
        case .getQueueNum: return .getQueueNum
        case .setMemTable: return .setMemTable(try MemoryTable(from: &reader))
        case .setVringNum: return .setVringNum(try state(&reader))
        case .setVringBase: return .setVringBase(try state(&reader))
        case .getVringBase: return .getVringBase(try state(&reader))
        case .setVringEnable: return .setVringEnable(try state(&reader))
        case .setVringAddr:
            do { return .setVringAddr(try VringAddress(from: &reader)) } catch {
                throw .payloadSize(expected: VringAddress.size)
            }
        case .setVringKick: return .setVringKick(try VringFile(from: &reader))
        case .setVringCall: return .setVringCall(try VringFile(from: &reader))
        case .setVringErr: return .setVringErr(try VringFile(from: &reader))
        case .getConfig: return .getConfig(try ConfigRange(from: &reader))
        default:
            // Served by the device, or refused.
            return .other(request.rawValue)
        }
    }

    private static func u64(_ reader: inout WireReader) throws(MessageRefusal) -> UInt64 {
        do { return try reader.le64() } catch { throw .payloadSize(expected: 8) }
    }

    private static func state(_ reader: inout WireReader) throws(MessageRefusal) -> VringState {
        do { return try VringState(from: &reader) } catch { throw .payloadSize(expected: VringState.size) }
    }

    /// Descriptors the request carries (nil: the device's requests, which take none; any sent
    /// with them are closed).
    var descriptorCount: Int? {
        switch self {
        case .setMemTable(let table): return table.regions.count
        case .setVringKick(let file), .setVringCall(let file), .setVringErr(let file): return file.noFD ? 0 : 1
        default: return nil
        }
    }
}

/// Why a message cannot be honoured. The back-end answers each with a failure reply where one
/// is due and the front-end asked for it, and otherwise closes the connection.
public enum MessageRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// A request this back-end and its device do not serve (unknown, or of a feature never offered).
    case unsupportedRequest
    /// A request of a feature this back-end does not offer or the front-end did not negotiate.
    case notNegotiated
    case payloadSize(expected: Int)
    case descriptorCount(expected: Int, actual: Int)
    case ringIndex(UInt32)
    case ringSize(UInt32)
    /// SET_VRING_ENABLE with a value other than 0 (disable) or 1 (enable).
    case enableValue(UInt32)
    case vringFileBits(UInt64)
    case notAnEventFD
    /// SET_VRING_KICK with NOFD: the back-end would have to poll the ring.
    case pollingNotSupported
    case memoryTable(MemoryTableFault)
    case ringAddress(RingAddressFault)
    /// Feature bits the back-end did not offer, or a set the device refuses.
    case features(UInt64)
    case protocolFeatures(UInt64)
    case configRange(offset: UInt32, size: UInt32)
    /// A ring whose parts do not fit guest memory with its size: it cannot start.
    case ringLayout(Int)
    /// The device refused an extension request (its reason).
    case device(String)

    /// A stable name for counters and logs.
    public var kind: String {
        switch self {
        case .unsupportedRequest: return "unsupported-request"
        case .notNegotiated: return "not-negotiated"
        case .payloadSize: return "payload-size"
        case .descriptorCount: return "descriptor-count"
        case .ringIndex: return "ring-index"
        case .ringSize: return "ring-size"
        case .enableValue: return "enable-value"
        case .vringFileBits: return "vring-file-bits"
        case .notAnEventFD: return "not-an-eventfd"
        case .pollingNotSupported: return "polling-not-supported"
        case .memoryTable: return "memory-table"
        case .ringAddress: return "ring-address"
        case .features: return "features"
        case .protocolFeatures: return "protocol-features"
        case .configRange: return "config-range"
        case .ringLayout: return "ring-layout"
        case .device: return "device"
        }
    }

    public var description: String {
        switch self {
        case .unsupportedRequest: return "a request this back-end does not serve"
        case .notNegotiated: return "a request of a feature not offered or not negotiated"
        case .payloadSize(let expected): return "payload size is not the request's \(expected) bytes"
        case .descriptorCount(let expected, let actual): return "\(actual) descriptors where \(expected) belong"
        case .ringIndex(let index): return "ring index \(index) is not a queue of this device"
        case .ringSize(let size): return "ring size \(size) is not a power of two in 1…32768"
        case .enableValue(let value): return "SET_VRING_ENABLE \(value) is neither 0 nor 1"
        case .vringFileBits(let value): return "bits beyond index and NOFD set in 0x\(String(value, radix: 16))"
        case .notAnEventFD: return "the descriptor is not an eventfd"
        case .pollingNotSupported: return "a kick without an eventfd (polling) is not supported"
        case .memoryTable(let fault): return "memory table: \(fault)"
        case .ringAddress(let fault): return "ring address: \(fault)"
        case .features(let bits): return "feature bits 0x\(String(bits, radix: 16)) refused"
        case .protocolFeatures(let bits): return "protocol feature bits 0x\(String(bits, radix: 16)) not offered"
        case .configRange(let offset, let size): return "config range \(offset)+\(size) outside the config space"
        case .ringLayout(let index): return "ring \(index)'s parts do not fit guest memory with its size"
        case .device(let reason): return reason
        }
    }
}

/// Why a memory table is refused. The previous table and every running ring stay as they were.
public enum MemoryTableFault: Error, Equatable, Sendable, CustomStringConvertible {
    case regionCount(UInt32)
    case emptyRegion(Int)
    case wraps(Int)
    case overlaps(Int)
    case fileTooShort(Int)
    case notMappable(region: Int, errno: Int32)
    /// A running ring's parts are not in the new table.
    case ringOutside(Int)

    public var description: String {
        switch self {
        case .regionCount(let count): return "\(count) regions (1…\(MemoryTable.maxRegions) allowed)"
        case .emptyRegion(let index): return "region \(index) is empty"
        case .wraps(let index): return "region \(index) wraps an address space"
        case .overlaps(let index): return "region \(index) overlaps another"
        case .fileTooShort(let index): return "region \(index) runs past the end of its file (or it is not a file)"
        case .notMappable(let index, let error): return "region \(index) cannot be mapped (errno \(error))"
        case .ringOutside(let ring): return "ring \(ring), running, would lie outside the new table"
        }
    }
}

/// Why ring addresses are refused when they are set.
public enum RingAddressFault: Equatable, Sendable, CustomStringConvertible {
    case noMemoryTable
    case logging
    case outside(part: RingPart)
    case misaligned(part: RingPart)

    public var description: String {
        switch self {
        case .noMemoryTable: return "no memory table to translate it with"
        case .logging: return "VHOST_VRING_F_LOG without LOG_ALL"
        case .outside(let part): return "the \(part) is not in one region of guest memory"
        case .misaligned(let part): return "the \(part) is not aligned to \(part.alignment) bytes"
        }
    }
}
