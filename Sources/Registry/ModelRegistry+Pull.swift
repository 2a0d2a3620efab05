import Artifacts
import Foundation
import GuardianFlowCore
import MLflow

/// Weights downloaded by `pull`.
public struct PulledWeights: Sendable, Equatable, Encodable {
    public var model: String
    public var version: String
    /// The local files, best.pt first.
    public var files: [String]
    public var sha256: String
}

extension ModelRegistry {
    /// Downloads a version's `best.pt` (and `last.pt` when present) into `directory` and checks
    /// best.pt's SHA-256 against the version's `weights.sha256` tag.
    ///
    /// - Throws: ``GuardianFlowError/invalidInput(_:)`` on a mismatch, leaving no file behind.
    public func pull(_ reference: ModelReference, to directory: String) async throws -> PulledWeights {
        let version = try await resolve(reference)
        let source = try await client.downloadURI(name: version.name, version: version.version)
        let store = try ArtifactStores.forArtifactURI(source, client: client, s3: s3)
        let manager = FileManager.default
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let staging = (directory as NSString).appendingPathComponent(".guardianflow-pull-\(UUID().uuidString.prefix(8))")
        try manager.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? manager.removeItem(atPath: staging) }

        try await store.download("best.pt", to: staging + "/best.pt")
        var names = ["best.pt"]
        if try await store.exists("last.pt") {
            try await store.download("last.pt", to: staging + "/last.pt")
            names.append("last.pt")
        }
        let sha = try FileDigest.sha256(ofFile: staging + "/best.pt")
        guard let expected = version.tags["weights.sha256"] else {
            throw GuardianFlowError.invalidInput(
                "Version \(version.version) of '\(version.name)' has no weights.sha256 tag, so its weights cannot be checked; nothing was written.")
        }
        guard sha == expected else {
            throw GuardianFlowError.invalidInput(
                "The downloaded best.pt of '\(version.name)' version \(version.version) has SHA-256 \(sha), but the version's "
                    + "weights.sha256 tag says \(expected). The stored weights were changed or corrupted; nothing was written.")
        }
        var files: [String] = []
        for name in names {
            let destination = (directory as NSString).appendingPathComponent(name)
            if manager.fileExists(atPath: destination) { try manager.removeItem(atPath: destination) }
            try manager.moveItem(atPath: "\(staging)/\(name)", toPath: destination)
            files.append(destination)
        }
        return PulledWeights(model: version.name, version: version.version, files: files, sha256: sha)
    }
}
