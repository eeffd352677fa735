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
        .library(name: "BotHostSQLite", targets: ["BotHostSQLite"]),
        .library(name: "BotHostStores", targets: ["BotHostStores"]),
        .library(name: "Rules", targets: ["Rules"]),
        .library(name: "Plugins", targets: ["Plugins"]),
        .library(name: "BotHostConfig", targets: ["BotHostConfig"]),
        .library(name: "XRPCClient", targets: ["XRPCClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swiftwasm/WasmKit", from: "0.4.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        .systemLibrary(name: "CZstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CSecp256k1", providers: [.apt(["libsecp256k1-dev"])]),
        .target(name: "XRPCClient", dependencies: ["CCurl"], swiftSettings: swiftSettings),
        .target(
            name: "Rules",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BotHost",
            dependencies: [
                "Rules", "XRPCClient", "CZstd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "WSClient", package: "swift-websocket"),
            ],
            resources: [.copy("Resources/jetstream-zstd-dictionary"), .copy("Resources/jetstream-v2-zstd-dictionary")],
            swiftSettings: swiftSettings
        ),
        // The SQLite store (the embedded default), beside BotHostPostgres: both implement
        // the store contracts of BotHost (StateStore.swift, OutboxStore.swift).
        .target(
            name: "BotHostSQLite",
            dependencies: [
                "BotHost", "XRPCClient",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BotHostHTTP",
            dependencies: [
                "BotHost", "Rules", "BotHostLabels",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "JetstreamServer",
            dependencies: [
                "BotHost", "CZstd",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BotHostPostgres",
            dependencies: [
                "BotHost",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Stores by location (a path or a URL, either backend) and the move between them.
        .target(
            name: "BotHostStores",
            dependencies: [
                "BotHost", "BotHostSQLite", "BotHostPostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Plugins",
            dependencies: ["BotHost", "Rules"],
            swiftSettings: swiftSettings
        ),
        // WebAssembly rule plugins (docs/plugins-wasm.md): untrusted code under fuel and
        // memory limits, on the same effect path as rule packs.
        .target(
            name: "BotHostWasm",
            dependencies: [
                "BotHost", "Plugins", "Rules",
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Labels (docs/labels.md): DAG-CBOR and the labeler's P-256 signatures.
        .target(
            name: "BotHostLabels",
            dependencies: [
                "BotHost", "XRPCClient", "CSecp256k1",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The config file (YAML): the bot, the plugins it runs and the host's settings.
        .target(
            name: "BotHostConfig",
            dependencies: ["BotHost", "Plugins", "Rules", "BotHostWasm", "BotHostLabels", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "bothost",
            dependencies: [
                "BotHost", "BotHostSQLite", "BotHostStores", "BotHostConfig", "Plugins", "Rules", "JetstreamServer", "BotHostHTTP", "BotHostPostgres", "BotHostWasm", "BotHostLabels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BotHostTests",
            dependencies: [
                "BotHost", "BotHostSQLite", "BotHostStores", "BotHostConfig", "Plugins", "Rules", "XRPCClient", "JetstreamServer", "BotHostHTTP", "BotHostPostgres", "BotHostWasm", "BotHostLabels",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
