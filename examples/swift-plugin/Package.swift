// swift-tools-version:6.1
// A bot built on BotHost in its own package: the default leveling rules plus a custom
// Swift plugin (a posting-streak bonus), with its own tests. `make test` builds and
// tests it (scripts/test.sh).
import PackageDescription

let package = Package(
    name: "StreakBot",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "StreakBonus", targets: ["StreakBonus"]),
        .executable(name: "streak-replay", targets: ["streak-replay"]),
    ],
    dependencies: [
        // BotHost by path: this directory sits in the BotHost repository.
        .package(name: "BotHost", path: "../.."),
    ],
    targets: [
        .target(name: "StreakBonus", dependencies: [
            .product(name: "BotHost", package: "BotHost"),
        ]),
        .executableTarget(name: "streak-replay", dependencies: [
            "StreakBonus",
            .product(name: "BotHost", package: "BotHost"),
            .product(name: "BotHostSQLite", package: "BotHost"),
            .product(name: "BotHostConfig", package: "BotHost"),
            .product(name: "Plugins", package: "BotHost"),
        ]),
        .testTarget(name: "StreakBonusTests", dependencies: [
            "StreakBonus",
            .product(name: "BotHost", package: "BotHost"),
            .product(name: "BotHostSQLite", package: "BotHost"),
            .product(name: "BotHostConfig", package: "BotHost"),
            .product(name: "Plugins", package: "BotHost"),
            .product(name: "XRPCClient", package: "BotHost"),
        ]),
    ]
)
