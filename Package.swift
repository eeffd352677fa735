// swift-tools-version:6.1
import PackageDescription

/// Shared by every target: Swift 6 mode plus the upcoming-feature flags the
/// server-side Swift ecosystem builds with, so `any` is always spelled and
/// imports are explicit.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    // Exclusivity is proven statically for almost all of this code; the dynamic checks
    // on class properties cost ~15% of the event path in release builds (perf).
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "BotHost",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bothost", targets: ["bothost"]),
        .library(name: "BotHost", targets: ["BotHost"]),
        .library(name: "Rules", targets: ["Rules"]),
        .library(name: "Plugins", targets: ["Plugins"]),
        .library(name: "XRPCClient", targets: ["XRPCClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CZstd", providers: [.apt(["libzstd-dev"])]),
        .target(name: "XRPCClient", swiftSettings: swiftSettings),
        .target(
            name: "Rules",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BotHost",
            dependencies: [
                "Rules", "XRPCClient", "CZstd",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Plugins",
            dependencies: ["BotHost", "Rules"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "bothost",
            dependencies: [
                "BotHost", "Plugins", "Rules",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BotHostTests",
            dependencies: ["BotHost", "Plugins", "Rules", "XRPCClient"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
