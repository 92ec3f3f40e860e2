/// The Twofish block cipher (Schneier et al., "Twofish: A 128-Bit Block Cipher", 1998),
/// for GMAC-Twofish: no system library offers it. Encryption only, as GMAC needs.
struct Twofish {
    private var subkeys = [UInt32](repeating: 0, count: 40)
    /// g's key-dependent S-boxes, folded with the MDS matrix: g(X) = Σ sbox[i][byte i of X].
    private var sbox = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 4)

    private static let q0: [UInt8] = permutation([
        [8, 1, 7, 13, 6, 15, 3, 2, 0, 11, 5, 9, 14, 12, 10, 4],
        [14, 12, 11, 8, 1, 2, 3, 5, 15, 4, 10, 6, 7, 0, 9, 13],
        [11, 10, 5, 14, 6, 13, 9, 0, 12, 8, 15, 3, 2, 4, 7, 1],
        [13, 7, 15, 4, 1, 2, 6, 14, 9, 11, 3, 0, 8, 5, 12, 10],
    ])
    private static let q1: [UInt8] = permutation([
        [2, 8, 11, 13, 15, 7, 6, 14, 3, 1, 9, 4, 0, 10, 12, 5],
        [1, 14, 2, 11, 4, 12, 3, 7, 6, 13, 10, 5, 15, 9, 0, 8],
        [4, 12, 7, 5, 1, 6, 9, 10, 0, 14, 13, 8, 2, 11, 3, 15],
        [11, 9, 5, 1, 12, 3, 13, 14, 6, 4, 7, 15, 2, 0, 8, 10],
    ])

    /// The q permutations from their four 4-bit tables (paper §4.3.5).
    private static func permutation(_ t: [[UInt8]]) -> [UInt8] {
        func ror4(_ x: UInt8) -> UInt8 { ((x >> 1) | (x << 3)) & 15 }
        return (0..<256).map { x in
            let a0 = UInt8(x >> 4)
            let b0 = UInt8(x & 15)
            let a1 = a0 ^ b0
            let b1 = (a0 ^ ror4(b0) ^ (8 &* a0)) & 15
            let a2 = t[0][Int(a1)]
            let b2 = t[1][Int(b1)]
            let a3 = a2 ^ b2
            let b3 = (a2 ^ ror4(b2) ^ (8 &* a2)) & 15
            return t[3][Int(b3)] << 4 | t[2][Int(a3)]
        }
    }

    /// Multiplication in GF(2⁸) modulo `polynomial`.
    private static func multiply(_ a: UInt8, _ b: UInt8, _ polynomial: UInt16) -> UInt8 {
        var result: UInt16 = 0
        var x = UInt16(a)
        var y = b
        while y != 0 {
            if y & 1 == 1 { result ^= x }
            x <<= 1
            if x & 0x100 != 0 { x ^= polynomial }
            y >>= 1
        }
        return UInt8(result)
    }

    private static let mds: [[UInt8]] = [
        [0x01, 0xef, 0x5b, 0x5b], [0x5b, 0xef, 0xef, 0x01],
        [0xef, 0x5b, 0x01, 0xef], [0xef, 0x01, 0xef, 0x5b],
    ]
    private static let rs: [[UInt8]] = [
        [0x01, 0xa4, 0x55, 0x87, 0x5a, 0x58, 0xdb, 0x9e],
        [0xa4, 0x56, 0x82, 0xf3, 0x1e, 0xc6, 0x68, 0xe5],
        [0x02, 0xa1, 0xfc, 0xc1, 0x47, 0xae, 0x3d, 0x19],
        [0xa4, 0x55, 0x87, 0x5a, 0x58, 0xdb, 0x9e, 0x03],
    ]

    /// MDS column `column` times byte `value`, as a little-endian word.
    private static func mdsColumn(_ column: Int, _ value: UInt8) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(multiply(mds[$1][column], value, 0x169)) << UInt32(8 * $1) }
    }

    private static func bytes(_ word: UInt32) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: word >> UInt32(8 * $0)) }
    }

    /// The byte-wise part of h (paper §4.3.2) for byte position `index` with key words `l`.
    private static func hByte(_ index: Int, _ x: UInt8, _ l: [UInt32]) -> UInt8 {
        let k = l.count
        let key = l.map { bytes($0)[index] }
        var y = x
        // Rows of q0/q1 choices per key-word stage, for byte positions 0...3.
        let stage4: [Bool] = [true, false, false, true]  // true = q1
        let stage3: [Bool] = [true, true, false, false]
        let stage2: [Bool] = [false, true, false, true]
        let stage1: [Bool] = [false, false, true, true]
        let stage0: [Bool] = [true, false, true, false]
        func q(_ one: Bool, _ v: UInt8) -> UInt8 { one ? q1[Int(v)] : q0[Int(v)] }
        if k == 4 { y = q(stage4[index], y) ^ key[3] }
        if k >= 3 { y = q(stage3[index], y) ^ key[2] }
        y = q(stage2[index], y) ^ key[1]
        y = q(stage1[index], y) ^ key[0]
        return q(stage0[index], y)
    }

    private static func h(_ x: UInt32, _ l: [UInt32]) -> UInt32 {
        let input = bytes(x)
        return (0..<4).reduce(UInt32(0)) { $0 ^ mdsColumn($1, hByte($1, input[$1], l)) }
    }

    private static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }

    init?(key: [UInt8]) {
        guard [16, 24, 32].contains(key.count) else { return nil }
        let k = key.count / 8
        let words: [UInt32] = (0..<(2 * k)).map { i in
            var word: UInt32 = 0
            for byte in 0..<4 { word |= UInt32(key[4 * i + byte]) << UInt32(8 * byte) }
            return word
        }
        let even = stride(from: 0, to: 2 * k, by: 2).map { words[$0] }
        let odd = stride(from: 1, to: 2 * k, by: 2).map { words[$0] }
        // S words from the RS code, used in reverse order (paper §4.3).
        var s: [UInt32] = []
        for i in 0..<k {
            var word: UInt32 = 0
            for row in 0..<4 {
                var value: UInt8 = 0
                for column in 0..<8 { value ^= Self.multiply(Self.rs[row][column], key[8 * i + column], 0x14d) }
                word |= UInt32(value) << UInt32(8 * row)
            }
            s.insert(word, at: 0)
        }
        let rho: UInt32 = 0x0101_0101
        for i in 0..<20 {
            let a = Self.h(UInt32(2 * i) &* rho, even)
            let b = Self.rotl(Self.h(UInt32(2 * i + 1) &* rho, odd), 8)
            subkeys[2 * i] = a &+ b
            subkeys[2 * i + 1] = Self.rotl(a &+ 2 &* b, 9)
        }
        for index in 0..<4 {
            for value in 0..<256 {
                sbox[index][value] = Self.mdsColumn(index, Self.hByte(index, UInt8(value), s))
            }
        }
    }

    private func g(_ x: UInt32) -> UInt32 {
        sbox[0][Int(x & 0xff)] ^ sbox[1][Int((x >> 8) & 0xff)] ^ sbox[2][Int((x >> 16) & 0xff)] ^ sbox[3][Int(x >> 24)]
    }

    /// Encrypts one 16-byte block.
    func encrypt(_ block: UnsafeRawPointer, _ output: UnsafeMutableRawPointer) {
        var r = (0..<4).map {
            UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) ^ subkeys[$0]
        }
        for round in 0..<16 {
            let t0 = g(r[0])
            let t1 = g(Self.rotl(r[1], 8))
            let f0 = t0 &+ t1 &+ subkeys[2 * round + 8]
            let f1 = t0 &+ 2 &* t1 &+ subkeys[2 * round + 9]
            let r2 = Self.rotl(r[2] ^ f0, 31)
            let r3 = Self.rotl(r[3], 1) ^ f1
            r = [r2, r3, r[0], r[1]]
        }
        let out = [r[2] ^ subkeys[4], r[3] ^ subkeys[5], r[0] ^ subkeys[6], r[1] ^ subkeys[7]]
        for (index, word) in out.enumerated() {
            output.storeBytes(of: word.littleEndian, toByteOffset: 4 * index, as: UInt32.self)
        }
    }
}
