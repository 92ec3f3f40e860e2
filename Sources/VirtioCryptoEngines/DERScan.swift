/// The little of DER (ITU-T X.690 §8.1, §10.1) needed to find the fields of the keys (the
/// private keys' numbers are then handed to OpenSSL as OSSL_PARAMs, see `AkcipherKeyDecoder`):
/// one-byte tags, definite lengths in their shortest form. A value that breaks these rules is
/// not DER, whatever a lenient decoder would make of it.
struct DERScan {
    static let integer: UInt8 = 0x02
    static let bitString: UInt8 = 0x03
    static let octetString: UInt8 = 0x04
    static let objectIdentifier: UInt8 = 0x06
    static let sequence: UInt8 = 0x30
    static let explicit0: UInt8 = 0xa0
    static let explicit1: UInt8 = 0xa1

    struct Element: Equatable {
        let tag: UInt8
        let content: Range<Int>
        /// Tag, length and content.
        let whole: Range<Int>
    }

    private let bytes: UnsafeRawBufferPointer
    private var position: Int
    private let end: Int

    init?(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
        guard range.lowerBound >= 0, range.upperBound <= bytes.count else { return nil }
        self.bytes = bytes
        position = range.lowerBound
        end = range.upperBound
    }

    /// A scanner over the fields of the SEQUENCE that makes up all of `bytes`, nil otherwise.
    static func sequence(_ bytes: UnsafeRawBufferPointer) -> DERScan? {
        guard var outer = DERScan(bytes, 0..<bytes.count), let element = outer.next(), element.tag == sequence,
            outer.isAtEnd
        else { return nil }
        return DERScan(bytes, element.content)
    }

    var isAtEnd: Bool { position == end }

    /// The next element, nil at the end or when the bytes are not DER.
    mutating func next() -> Element? {
        guard end - position >= 2 else { return nil }
        let start = position
        let tag = bytes[start]
        guard tag & 0x1f != 0x1f else { return nil }  // high tag numbers: none in these structures
        var cursor = start + 2
        var length = Int(bytes[start + 1])
        if length >= 0x80 {
            let count = length & 0x7f
            // 1 or 2 length bytes cover every key under the session limit; no leading zero
            // byte and no long form for a length below 128 (DER's shortest form).
            guard (1...2).contains(count), end - cursor >= count, bytes[cursor] != 0 else { return nil }
            length = 0
            for index in 0..<count { length = length << 8 | Int(bytes[cursor + index]) }
            guard length >= 0x80 else { return nil }
            cursor += count
        }
        guard length <= end - cursor else { return nil }
        position = cursor + length
        return Element(tag: tag, content: cursor..<position, whole: start..<position)
    }

    /// Bytes of tag and length for a content of `length` bytes.
    static func headerLength(_ length: Int) -> Int {
        length < 0x80 ? 2 : (length < 0x100 ? 3 : 4)
    }
}
