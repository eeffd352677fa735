// swift-tools-version:6.1
// libFuzzer targets that need SwiftPM (Yams, C modules, resources): the YAML inputs (the
// config loader, the rule-pack checker) and the hostile-input ones of issue 18:
//   swift build --package-path fuzz/yaml -c release -Xswiftc -sanitize=fuzzer,address
// `make fuzz` (scripts/fuzz.sh) builds and runs them; libFuzzer supplies `main`.
import PackageDescription

let package = Package(
    name: "FuzzYAML",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "BotHost", path: "../..")],
    targets: [
        .executableTarget(name: "FuzzConfig", dependencies: [.product(name: "BotHostConfig", package: "BotHost")]),
        .executableTarget(name: "FuzzRulePack", dependencies: [.product(name: "Rules", package: "BotHost")]),
        // Hostile input (issue 18): zstd frames (huge windows, bombs), XRPC responses with
        // their rate-limit headers, and the consent command parser.
        .executableTarget(name: "FuzzZstdFrame", dependencies: [.product(name: "BotHost", package: "BotHost")]),
        .executableTarget(name: "FuzzRateLimit", dependencies: [.product(name: "BotHost", package: "BotHost"),
                                                                .product(name: "XRPCClient", package: "BotHost")]),
        .executableTarget(name: "FuzzConsentCommand", dependencies: [.product(name: "Plugins", package: "BotHost")]),
    ]
)
