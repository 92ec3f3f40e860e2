import ArgumentParser

/// The project's benchmark. `engines` measures the crypto engines' per-request path
/// against raw OpenSSL EVP calls for the same operation, in the same run, as a ratio.
@main
struct VirtioCryptoBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "virtio-crypto-bench",
        abstract: "Benchmarks of virtio-crypto; every figure is a ratio to raw OpenSSL measured in the same run.",
        subcommands: [EnginesBenchmark.self, VringBenchmark.self, DeviceBenchmark.self, SoakCommand.self],
        defaultSubcommand: EnginesBenchmark.self)
}
