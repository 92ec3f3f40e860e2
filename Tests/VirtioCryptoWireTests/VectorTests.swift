import Foundation
import Testing
import VirtioCryptoWire

/// Runs every vector of Spec/generated/vectors.json through the generated Swift. The
/// vectors were computed by the generator's own encoder and evaluator, so this is a
/// differential test of the emitted codecs, framing and validators.
struct VectorTests {
    static func list(_ key: String) -> [[String: Any]] {
        (try? Repo.json("Spec/generated/vectors.json"))?[key] as? [[String: Any]] ?? []
    }

    @Test func everyStructDecodesToItsFieldsAndReencodesToItsBytes() throws {
        let structVectors = Self.list("structs")
        #expect(
            Set(structVectors.map { $0["struct"] as! String }) == Set(WireCatalog.layouts.keys),
            "every struct has a vector")
        for vector in structVectors {
            let name = vector["struct"] as! String
            let golden = bytes(hex: vector["hex"] as! String)
            let expected = (vector["fields"] as! [String: NSNumber]).mapValues(\.uint64Value)
            let decoded = try #require(try WireCatalog.decode(name, from: golden), "\(name)")
            #expect((decoded as! FieldReflecting).fieldValues == expected, "\(name)")
            #expect(decoded.encoded() == golden, "\(name) re-encodes differently")
            #expect(golden.count == WireCatalog.layouts[name]?.size, "\(name)")
        }
    }

    @Test func everyRequestIsFramedAsTheSpecSays() throws {
        let requestVectors = Self.list("requests")
        #expect(requestVectors.count >= 30)
        for vector in requestVectors {
            let label = "\(vector["queue"]!) \(vector["opcode"]!) \(vector["layout"]!)"
            let negotiated = features(vector["features"] as! [String])
            let header = bytes(hex: vector["header-hex"] as! String)
            let flf = bytes(hex: vector["flf-hex"] as! String)
            let layout = try #require(RequestLayout(rawValue: vector["layout"] as! String))
            // Segment names are static strings: compare every field as text.
            let expectedSegments = (vector["segments"] as! [[String: Any]]).map {
                "\($0["name"] as! String) \(SegmentDirection(rawValue: $0["direction"] as! String)!) \($0["offset"] as! Int) \($0["length"] as! Int)"
            }
            var writer = WireWriter()
            let segments: [NamedVlfSegment]
            if vector["queue"] as! String == "controlq" {
                let parsedHeader = try CtrlHeader.decode(header)
                #expect(ControlQueue.layout(for: parsedHeader, features: negotiated) == layout, "\(label)")
                #expect(ControlQueue.flfSize(opcode: parsedHeader.opcode, layout: layout) == flf.count, "\(label)")
                #expect(
                    ControlQueue.outcomeSizes(opcode: parsedHeader.opcode) == vector["outcome-sizes"] as! [Int],
                    "\(label)")
                let request = try #require(
                    try parse(flf) { (reader: inout WireReader) throws(WireError) in
                        try ControlQueue.parse(header: parsedHeader, flf: &reader, features: negotiated)
                    }, "\(label)")
                segments = request.segments
                request.encodeFLF(into: &writer, layout: layout)
            } else {
                let parsedHeader = try OpHeader.decode(header)
                #expect(DataQueue.layout(for: parsedHeader, features: negotiated) == layout, "\(label)")
                #expect(DataQueue.flfSize(opcode: parsedHeader.opcode, layout: layout) == flf.count, "\(label)")
                #expect(
                    DataQueue.outcomeSizes(opcode: parsedHeader.opcode) == vector["outcome-sizes"] as! [Int], "\(label)"
                )
                let request = try #require(
                    try parse(flf) { (reader: inout WireReader) throws(WireError) in
                        try DataQueue.parse(header: parsedHeader, flf: &reader, features: negotiated)
                    }, "\(label)")
                segments = request.segments
                request.encodeFLF(into: &writer, layout: layout)
            }
            #expect(
                segments.map { "\($0.name) \($0.direction) \($0.offset) \($0.length)" } == expectedSegments, "\(label)")
            #expect(writer.bytes == flf, "\(label) fixed part re-encodes differently")
        }
    }

    @Test func everyValidatorRejectsItsNegativeVectorAndOnlyThatRule() throws {
        let negative = Self.list("negative")
        let validatorRules = RuleTable.all.filter { $0.enforcement == .validator }
        #expect(
            Set(negative.map { $0["rule"] as! String }) == Set(validatorRules.map(\.id.rawValue)),
            "every validator rule has a negative vector")
        for vector in negative {
            let rule = vector["rule"] as! String
            let value = try #require(
                try WireCatalog.decode(vector["target"] as! String, from: bytes(hex: vector["hex"] as! String)))
            let violation = value.violation(features: features(vector["features"] as! [String]))
            #expect(violation?.rule.rawValue == rule, "\(rule)")
            #expect(violation?.field == vector["field"] as? String, "\(rule)")
            #expect(violation?.status == status(named: vector["status"] as? String), "\(rule)")
        }
    }

    private func parse<T>(_ bytes: [UInt8], _ body: (inout WireReader) throws(WireError) -> T) throws(WireError) -> T {
        let result: Result<T, WireError> = bytes.withUnsafeBytes { raw in
            var reader = WireReader(raw)
            do throws(WireError) {
                let value = try body(&reader)
                #expect(reader.remaining == 0, "the parser consumes exactly the fixed-length part")
                return .success(value)
            } catch { return .failure(error) }
        }
        return try result.get()
    }
}
