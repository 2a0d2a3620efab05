import Foundation
import GuardianFlowCore
import PathSupport

/// A folder that a training left behind, as `guardianflow import` finds it.
public struct RunFolder: Sendable, Equatable, Hashable {
    /// Which trainer wrote it.
    public enum Format: String, Sendable, Codable {
        /// ultralytics (YOLOv8 and later): `args.yaml`, `results.csv`, `weights/`.
        case ultralytics
        /// YOLOv5: `opt.yaml` and `hyp.yaml`, `results.csv` with 0-based epochs.
        case yolov5
    }

    /// The folder, absolute.
    public var path: String
    public var format: Format

    public init(path: String, format: Format) {
        self.path = path
        self.format = format
    }

    public var name: String { (path as NSString).lastPathComponent }
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    public var resultsCSV: String? { FileManager.default.fileExists(atPath: file("results.csv")) ? file("results.csv") : nil }

    /// `weights/*.pt`, sorted.
    public var weights: [String] {
        let folder = file("weights")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasSuffix(".pt") }.sorted().map { (folder as NSString).appendingPathComponent($0) }
    }

    /// What a folder must hold to be a run, in words: what `import` looked for.
    public static let whatIsARun =
        "an ultralytics run (a folder with args.yaml, plus results.csv or weights/*.pt; or results.csv with weights/*.pt) or a "
        + "YOLOv5 run (a folder with opt.yaml and hyp.yaml)"

    /// The run this folder is, if it is one.
    public static func recognise(_ path: String) -> RunFolder? {
        let manager = FileManager.default
        func has(_ name: String) -> Bool { manager.fileExists(atPath: (path as NSString).appendingPathComponent(name)) }
        if has("opt.yaml") && has("hyp.yaml") { return RunFolder(path: path, format: .yolov5) }
        let folder = RunFolder(path: path, format: .ultralytics)
        let hasWeights = !folder.weights.isEmpty
        if has("args.yaml") && (has("results.csv") || hasWeights) { return folder }
        if has("results.csv") && hasWeights { return folder }
        return nil
    }

    /// Every run under each path (a path may be a run itself), sorted by path, each once. A run's
    /// own folder is not searched further.
    ///
    /// - Throws: ``GuardianFlowError/invalidInput(_:)`` (65) for a path that does not exist or
    ///   holds no run, saying what was looked for.
    public static func find(in paths: [String]) throws -> [RunFolder] {
        var found: [String: RunFolder] = [:]
        for given in paths {
            let root = FilePaths.absolute(given)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else {
                throw GuardianFlowError.invalidInput(
                    "\(given) does not exist. Give the folder of a run, or one that holds runs (runs/detect). Nothing was imported.")
            }
            guard isDirectory.boolValue else {
                throw GuardianFlowError.invalidInput(
                    "\(given) is a file, not a folder. Give the folder of a run (the one that holds args.yaml and results.csv), or one that holds runs. Nothing was imported."
                )
            }
            let before = found.count
            search(root, depth: 0, into: &found)
            if found.count == before && !found.keys.contains(where: { $0 == root || $0.hasPrefix(root + "/") }) {
                throw GuardianFlowError.invalidInput(
                    "No run found in \(given): guardianflow looked for \(whatIsARun), in it and every folder below. Nothing was imported.")
            }
        }
        return found.values.sorted { $0.path < $1.path }
    }

    static func search(_ path: String, depth: Int, into found: inout [String: RunFolder]) {
        let resolved = (path as NSString).resolvingSymlinksInPath
        if let run = recognise(path) {
            found[resolved] = RunFolder(path: resolved, format: run.format)
            return
        }
        guard depth < 32, let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
        for name in names.sorted() where !name.hasPrefix(".") {
            let child = (path as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: child, isDirectory: &isDirectory), isDirectory.boolValue {
                search(child, depth: depth + 1, into: &found)
            }
        }
    }
}
