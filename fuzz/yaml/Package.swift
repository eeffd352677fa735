// swift-tools-version:6.1
// libFuzzer targets for the YAML inputs (the config loader and the whole rule-pack
// checker), which need Yams and so are built by SwiftPM rather than plain swiftc:
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
    ]
)
