import Foundation
import GuardianFlowCore
import PathSupport

/// Artifacts in a local folder (`file:///…` or a plain path).
public struct LocalArtifactStore: ArtifactStore {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    /// The path of a `file:` URI (`file:///a/b` and `file:/a/b` give `/a/b`).
    public static func path(ofFileURI uri: String) -> String {
        guard uri.hasPrefix("file:") else { return uri }
        if let url = URL(string: uri), url.isFileURL { return url.path }
        return String(uri.dropFirst("file:".count))
    }

    func full(_ path: String) -> String { (root as NSString).appendingPathComponent(path) }

    @discardableResult
    public func upload(file: String, to path: String) async throws -> String? {
        try copy(from: file, to: full(path))
        return nil
    }

    public func download(_ path: String, to localFile: String) async throws {
        guard FileManager.default.fileExists(atPath: full(path)) else {
            throw GuardianFlowError.registryState("The artifact \(full(path)) does not exist.")
        }
        try copy(from: full(path), to: localFile)
    }

    public func exists(_ path: String) async throws -> Bool {
        FileManager.default.fileExists(atPath: full(path))
    }

    /// Copies through a temporary file beside the destination, then renames.
    func copy(from source: String, to destination: String) throws {
        let manager = FileManager.default
        let partial = destination + ".part"
        do {
            try manager.createDirectory(
                atPath: FilePaths.parent(destination), withIntermediateDirectories: true)
            try? manager.removeItem(atPath: partial)
            try manager.copyItem(atPath: source, toPath: partial)
            if manager.fileExists(atPath: destination) { try manager.removeItem(atPath: destination) }
            try manager.moveItem(atPath: partial, toPath: destination)
        } catch {
            try? manager.removeItem(atPath: partial)
            throw GuardianFlowError.invalidInput("Cannot copy \(source) to \(destination): \(error.localizedDescription).")
        }
    }
}
