import Testing
import VirtioCryptoWire

/// `WireCatalog.decode(_:from:in:)`: every struct a revision lays out decodes in that revision's
/// form (the fuzzers enumerate decoders through it), to a value of that form's size.
struct CatalogRevisionTests {
    @Test func everyRevisionDecodesEveryStructItLaysOut() throws {
        for revision in SpecRevision.allCases {
            for (name, layout) in WireCatalog.layouts(in: revision) {
                // Zeros: a counted array's count is then 0, so `size` bytes are the whole struct.
                let bytes = [UInt8](repeating: 0, count: layout.size)
                let value = try #require(try WireCatalog.decode(name, from: bytes, in: revision), "\(name)")
                #expect(value.encoded().count >= layout.size, "\(name) in \(revision.id)")
            }
            #expect(try WireCatalog.decode("no-such-struct", from: [], in: revision) == nil)
        }
    }

    @Test func anEarlierFormDecodesToItsOwnType() throws {
        let v23 = try WireCatalog.decode("destroy-session-input", from: [1, 0, 0, 0, 0, 0, 0, 0], in: .v23)
        #expect(v23 as? DestroySessionInputV23 == DestroySessionInputV23(status: .err))
        let newest = try WireCatalog.decode("destroy-session-input", from: [1], in: .newest)
        #expect(newest as? DestroySessionInput == DestroySessionInput(status: .err))
        // A name only an earlier revision has.
        #expect(try WireCatalog.decode("session-input", from: [UInt8](repeating: 0, count: 16), in: .v23) != nil)
        #expect(try WireCatalog.decode("session-input", from: [UInt8](repeating: 0, count: 16), in: .newest) == nil)
        #expect(try WireCatalog.decode("akcipher-data-flf", from: [UInt8](repeating: 0, count: 8), in: .v1_2) == nil)
    }
}
