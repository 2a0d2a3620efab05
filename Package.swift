// swift-tools-version:6.1
import PackageDescription

/// One settings block for every target: Swift 6 language mode everywhere.
let settings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let yams: Target.Dependency = .product(name: "Yams", package: "Yams")
let crypto: Target.Dependency = .product(name: "Crypto", package: "swift-crypto")

// Linux only: the code reads /proc (system metrics, leases) and calls glibc-only functions
// (pipe2, posix_spawn_file_actions_addchdir_np), so no Apple platform is declared.
let package = Package(
    name: "guardianflow",
    products: [
        .library(name: "MLflow", targets: ["MLflow"]),
        .library(name: "S3", targets: ["S3"]),
        .library(name: "GuardianFlow", targets: ["GuardianFlow"]),
        .executable(name: "guardianflow", targets: ["guardianflow"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // The HTTP and S3 layers (below the domain).
        .target(name: "PathSupport", swiftSettings: settings),
        .target(
            name: "HTTPSupport",
            dependencies: [
                "PathSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: settings
        ),
        .target(name: "MLflow", dependencies: ["HTTPSupport"], swiftSettings: settings),
        .target(
            name: "S3",
            dependencies: ["HTTPSupport", "PathSupport", crypto],
            swiftSettings: settings
        ),
        .target(name: "CSupport"),

        // The domain, one target per seam. ARCHITECTURE.md draws this graph (a test checks that
        // the drawing and these lists agree).
        .target(name: "GuardianFlowCore", dependencies: ["MLflow", "S3", "CSupport", logging], swiftSettings: settings),
        .target(name: "Config", dependencies: ["GuardianFlowCore", "MLflow", "S3", "PathSupport", yams, logging], swiftSettings: settings),
        .target(name: "SystemMonitoring", dependencies: ["GuardianFlowCore", "MLflow"], swiftSettings: settings),
        .target(name: "Artifacts", dependencies: ["GuardianFlowCore", "Config", "MLflow", "S3", "PathSupport", crypto], swiftSettings: settings),
        .target(name: "Registry", dependencies: ["GuardianFlowCore", "Artifacts", "MLflow", "S3"], swiftSettings: settings),
        .target(name: "Tracking", dependencies: ["GuardianFlowCore", "Config", "MLflow", logging], swiftSettings: settings),
        .target(
            name: "Delivery", dependencies: ["GuardianFlowCore", "Config", "Artifacts", "Registry", "MLflow", logging], swiftSettings: settings),
        .target(
            name: "Training",
            dependencies: [
                "GuardianFlowCore", "Config", "SystemMonitoring", "Artifacts", "Registry", "Tracking", "Delivery", "MLflow", "PathSupport",
                logging,
            ],
            swiftSettings: settings
        ),
        .target(
            name: "Import",
            dependencies: ["GuardianFlowCore", "Config", "Artifacts", "Registry", "Delivery", "MLflow", "PathSupport", yams, crypto, logging],
            swiftSettings: settings
        ),
        .target(
            name: "Scheduling",
            dependencies: ["GuardianFlowCore", "Config", "Tracking", "Training", "MLflow", logging],
            swiftSettings: settings
        ),
        // The library's front door: re-exports the domain targets, and holds `doctor`, which checks them all.
        .target(
            name: "GuardianFlow",
            dependencies: [
                "GuardianFlowCore", "Config", "SystemMonitoring", "Artifacts", "Registry", "Tracking", "Delivery", "Training", "Import",
                "Scheduling", "MLflow", "S3", "PathSupport", logging,
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "guardianflow",
            dependencies: [
                "GuardianFlow",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                logging,
            ],
            swiftSettings: settings,
            // A position-dependent release binary, as Go links by default: the loader then has no
            // 120,000 relocations to apply, which is 1.5 ms of every command's start (BENCHMARKS.md).
            linkerSettings: [.unsafeFlags(["-Xclang-linker", "-no-pie"], .when(platforms: [.linux], configuration: .release))]
        ),
        .target(
            name: "TestSupport",
            dependencies: [
                "MLflow",
                "GuardianFlow",
                logging,
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: settings
        ),
        .testTarget(
            name: "MLflowTests",
            dependencies: ["MLflow", "TestSupport"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "S3Tests",
            dependencies: ["S3", "TestSupport"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "GuardianFlowTests",
            dependencies: ["GuardianFlow", "HTTPSupport", "PathSupport", "TestSupport"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["GuardianFlow", "MLflow", "TestSupport", "guardianflow"],
            swiftSettings: settings
        ),
    ]
)
