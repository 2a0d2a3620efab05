import Foundation
import GuardianFlowCore
import MLflow
import Yams

/// Reads a ``RunFolder`` into an ``ImportedRun``: its args, results.csv, checkpoints and files.
/// Nothing is written anywhere; a damaged file throws, naming it.
public struct RunFolderReader: Sendable {
    /// path → what the checkpoint says (``CheckpointReader``).
    let checkpoints: [String: CheckpointInfo]

    public init(checkpoints: [String: CheckpointInfo]) {
        self.checkpoints = checkpoints
    }

    /// The checkpoints of a folder that are worth reading: last.pt and best.pt.
    public static func checkpointPaths(_ folder: RunFolder) -> [String] {
        folder.weights.filter { ["last.pt", "best.pt"].contains(($0 as NSString).lastPathComponent) }
    }

    /// - Throws: ``GuardianFlowError/invalidInput(_:)`` (65) for a damaged results.csv, args or checkpoint.
    public func read(_ folder: RunFolder) throws -> ImportedRun {
        let manager = FileManager.default
        let last = checkpoints[folder.file("weights/last.pt")]
        let bestCheckpoint = checkpoints[folder.file("weights/best.pt")]
        for info in [last, bestCheckpoint].compactMap({ $0 }) where !info.ok {
            throw GuardianFlowError.invalidInput("\(info.path) cannot be read as a checkpoint: \(info.error ?? "unknown error").")
        }
        let checkpoint = last ?? bestCheckpoint

        // The arguments.
        var args: [String: ParamValue] = [:]
        var argsFiles: [String] = []
        switch folder.format {
        case .ultralytics:
            if manager.fileExists(atPath: folder.file("args.yaml")) {
                args = try Self.yamlArguments(folder.file("args.yaml"))
                argsFiles = [folder.file("args.yaml")]
            } else if let trainArgs = checkpoint?.trainArgs {
                args = trainArgs
            } else {
                throw GuardianFlowError.invalidInput(
                    "\(folder.path) has no args.yaml, and its checkpoint holds no train_args: the run's arguments are unknown.")
            }
        case .yolov5:
            args = try Self.yamlArguments(folder.file("opt.yaml"))
            if case let hyp? = args["hyp"], hyp.text.hasPrefix("{") { args["hyp"] = nil }
            for (key, value) in try Self.yamlArguments(folder.file("hyp.yaml")) { args[key] = value }
            argsFiles = [folder.file("opt.yaml"), folder.file("hyp.yaml")]
        }

        // The epochs.
        let table: ResultsTable?
        if let csv = folder.resultsCSV {
            guard let data = manager.contents(atPath: csv), let text = String(data: data, encoding: .utf8) else {
                throw GuardianFlowError.invalidInput("\(csv) cannot be read as UTF-8 text.")
            }
            table = try ResultsTable(text: text, file: csv, format: folder.format)
        } else {
            table = nil
        }
        let rows = table?.rows ?? []
        let firstRow = table?.trainingStarts.last ?? 0
        let imported = Array(rows[firstRow...])
        let argsWritten = argsFiles.first.flatMap { Self.modified($0) }
        let timeline = RunTimeline(
            argsWritten: argsWritten, checkpointDate: [last, bestCheckpoint].compactMap { $0?.writtenAt }.max(),
            resultsModified: folder.resultsCSV.flatMap { Self.modified($0) }, times: imported.map(\.time))
        let names = MetricColumns.names(table?.columns ?? [])
        var epochs: [ImportedRun.Epoch] = []
        for (offset, row) in imported.enumerated() {
            var metrics: [String: Double] = [:]
            for (column, value) in row.values { if let value, let name = names[column] { metrics[name] = value } }
            epochs.append(
                ImportedRun.Epoch(
                    step: Int64(row.epoch), timestamp: timeline.epochTimestamps[offset], metrics: metrics, row: firstRow + offset))
        }

        // The best epoch, by ultralytics' fitness.
        func fitness(_ epoch: ImportedRun.Epoch) -> Double? {
            guard let map = epoch.metrics["mAP50_95"] else { return nil }
            return 0.1 * (epoch.metrics["mAP50"] ?? 0) + 0.9 * map
        }
        let bestEpoch = epochs.filter { fitness($0) != nil }.max { fitness($0)! < fitness($1)! }
        var best: [String: Double] = [:]
        if let bestEpoch {
            for name in ["mAP50", "mAP50_95", "precision", "recall", "box_loss", "cls_loss", "dfl_loss"] {
                if let value = bestEpoch.metrics[name] { best[name] = value }
            }
        }

        // The status.
        let planned = args["epochs"].flatMap { Int($0.text) }
        let done = Int(epochs.last?.step ?? 0)
        let patience = args["patience"].flatMap { Int($0.text) }
        let status: RunStatus
        let reason: String
        if let checkpoint, checkpoint.stripped {
            status = .finished
            reason = "the training completed: \((checkpoint.path as NSString).lastPathComponent) was stripped of its optimizer at the end"
        } else if let planned, done >= planned {
            status = .finished
            reason = "all \(planned) planned epochs are there"
        } else if let patience, patience > 0, let bestEpoch, done - Int(bestEpoch.step) >= patience {
            status = .finished
            reason = "early stopping: no better epoch in the \(patience) after epoch \(bestEpoch.step)"
        } else {
            status = .killed
            let plannedText = planned.map { " of \($0)" } ?? ""
            reason =
                "interrupted after epoch \(done)\(plannedText)"
                + (last?.hasOptimizer == true ? " (last.pt still holds its optimizer)" : checkpoint == nil ? " (no checkpoint)" : "")
        }

        // The files, as `train` uploads them.
        var artifacts: [(local: String, path: String)] = []
        for name in ["best.pt", "last.pt"] where manager.fileExists(atPath: folder.file("weights/\(name)")) {
            artifacts.append((folder.file("weights/\(name)"), "weights/\(name)"))
        }
        if let csv = folder.resultsCSV { artifacts.append((csv, "results.csv")) }
        for file in argsFiles { artifacts.append((file, (file as NSString).lastPathComponent)) }
        let entries = (try? manager.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in entries.sorted() where ["png", "jpg", "jpeg"].contains((name as NSString).pathExtension.lowercased()) {
            artifacts.append((folder.file(name), "plots/\(name)"))
        }

        // Where it came from, and what it holds.
        let savedAs = args["save_dir"]?.text ?? args["project"].flatMap { project in args["name"].map { "\(project.text)/\($0.text)" } }
        let normalized = rows.map(\.normalized)
        let argsContent = argsFiles.compactMap { manager.contents(atPath: $0) }.map { String(decoding: $0, as: UTF8.self) }.joined()
        let originSeed = [
            folder.format.rawValue, savedAs ?? "", normalized.first ?? argsContent,
        ].joined(separator: "\n")
        let weightsSignature = artifacts.filter { $0.path.hasPrefix("weights/") }.map { "\($0.path):\(Self.size($0.local) ?? -1)" }
        let content = ImportedRun.sha256(
            [
                ImportedRun.sha256(normalized.joined(separator: "\n")), status.rawValue, weightsSignature.joined(separator: ","),
                ImportedRun.sha256(argsContent),
            ]
            .joined(separator: "\n"))

        var version = checkpoint?.version
        if version == nil, folder.format == .ultralytics, let table {
            version = table.padded || !table.hasTime ? "≤8.3.8" : "≥8.3.9"
        }
        return ImportedRun(
            folder: folder, ultralyticsVersion: version, task: args["task"]?.text,
            model: (args["model"] ?? args["weights"] ?? args["cfg"])?.text,
            data: args["data"]?.text,
            params: args.sorted { $0.key < $1.key }.map { KeyValue(key: $0.key, value: $0.value.text) }, epochs: epochs,
            rowCount: rows.count, firstRow: firstRow, plannedEpochs: planned, status: status, statusReason: reason, timeline: timeline,
            best: best,
            artifacts: artifacts, savedAs: savedAs, origin: ImportedRun.sha256(originSeed), content: content, normalizedRows: normalized)
    }

    /// A YAML file of arguments, each value as its param text.
    static func yamlArguments(_ path: String) throws -> [String: ParamValue] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw GuardianFlowError.invalidInput("\(path) cannot be read as UTF-8 text.")
        }
        let loaded: Any?
        do {
            loaded = try Yams.load(yaml: text)
        } catch {
            throw GuardianFlowError.invalidInput("\(path) is not valid YAML: \(error)")
        }
        guard let object = loaded as? [String: Any] else {
            throw GuardianFlowError.invalidInput("\(path) is not a YAML mapping of arguments (key: value).")
        }
        return object.mapValues { ParamValue(yaml: $0) }
    }

    static func modified(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    static func size(_ path: String) -> Int64? {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value
    }
}
