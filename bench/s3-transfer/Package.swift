// swift-tools-version:6.1
// A benchmark harness for guardianflow's S3 module (issue 5), outside the main package so the
// product and its tests stay as they are. Build: swift build -c release --package-path bench/s3-transfer
import Foundation
import PackageDescription

// A path dependency's identity is the last component of its path, i.e. whatever the checkout's
// directory is called, so it is worked out here rather than written down.
let checkout = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().deletingLastPathComponent()
let guardianflow = checkout.standardizedFileURL.lastPathComponent.lowercased()

let package = Package(
    name: "s3-transfer",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(
            name: "s3-transfer",
            dependencies: [.product(name: "S3", package: guardianflow)],
            path: "Sources",
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
