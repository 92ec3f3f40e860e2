import FuzzSupport

/// One input drives a fresh device through its rings, aimed at the control queue (see QueueFuzzer).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    QueueFuzzer.run(UnsafeRawBufferPointer(start: data, count: size), focus: .control)
    return 0
}

/// SwiftPM's name for this executable's main (see FuzzDriver).
@_cdecl("FuzzControlQueue_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.main(argc, argv, seeds: { QueueSeeds.seeds(focus: .control) }) { data, size in
        data.map { fuzz($0, size) } ?? 0
    }
}
