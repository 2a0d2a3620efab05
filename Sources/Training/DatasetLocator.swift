import Config
import Foundation
import GuardianFlowCore
import Logging

/// A `--data` that names one of ultralytics' own datasets (`coco8.yaml`, `coco128.yaml`) instead of
/// a file: found where the trainer will find it, by asking ultralytics itself with the trainer's
/// environment (`python -m guardianflow_trainer.datasets`): its built-in YAML, and the images under
/// its `datasets_dir` setting. When they are not there, downloads are either allowed (ultralytics
/// fetches them, before any run exists) or off, and the training is refused.
struct DatasetLocator {
    /// What ultralytics says of a dataset name.
    struct Located: Decodable, Equatable {
        var name: String
        /// The built-in data YAML, absolute.
        var yaml: String
        /// The dataset folder its `path:` resolves to.
        var root: String
        var datasets_dir: String
        var settings_file: String
        var present: Bool
        var downloadable: Bool
    }

    let python: PythonEnvironment
    /// The trainer's environment (its YOLO_CONFIG_DIR): the answer must be the trainer's.
    let environment: [String: String]
    /// Whether ultralytics may download (YOLO_OFFLINE unset in guardianflow's own environment).
    let downloadsAllowed: Bool
    let logger: Logger

    /// Whether `data` is a dataset name rather than a path: a bare `NAME.yaml` that is no file here.
    static func isName(_ data: String) -> Bool {
        let lower = data.lowercased()
        return !data.contains("/") && (lower.hasSuffix(".yaml") || lower.hasSuffix(".yml"))
            && !FileManager.default.fileExists(atPath: TrainingInputValidator.absolute(data))
    }

    /// Whether ultralytics' YOLO_OFFLINE is set in `environment` (as ultralytics reads it).
    static func offline(_ environment: [String: String]) -> Bool {
        guard let value = environment["YOLO_OFFLINE"]?.lowercased() else { return false }
        return ["1", "true", "yes", "on"].contains(value)
    }

    /// The dataset's YAML and root, with its images present.
    ///
    /// - Throws: ``GuardianFlowError/invalidInput(_:)`` (65) for a name ultralytics does not know,
    ///   or images that are not here while downloads are off (saying where they would go and how
    ///   to point at a copy); ``GuardianFlowError/unavailable(_:)`` (69) when a download failed.
    func locate(_ name: String) async throws -> Located {
        logger.debug("--data \(name) is no file here: asking ultralytics where its dataset of that name is.")
        var located = try await ask(name, download: false)
        if located.present { return located }
        let whereItGoes =
            "ultralytics looks for its images in \(located.root) (its datasets_dir is \(located.datasets_dir), "
            + "set in \(located.settings_file))"
        guard downloadsAllowed, located.downloadable else {
            throw GuardianFlowError.invalidInput(
                "'\(name)' is one of ultralytics' built-in datasets, and its images are not here: \(whereItGoes). "
                    + (located.downloadable
                        ? "It needs a download, and downloads are off (YOLO_OFFLINE is set). "
                        : "Its YAML says no way to download it. ")
                    + "Put a copy of the dataset in \(located.root), set datasets_dir in \(located.settings_file) to the folder "
                    + "that holds your copy, or give --data the path of your copy's data YAML. No run was created.")
        }
        logger.notice("Downloading the dataset '\(name)' as ultralytics does, to \(located.root), before the run is created…")
        located = try await ask(name, download: true)
        guard located.present else {
            throw GuardianFlowError.unavailable(
                "The dataset '\(name)' could not be downloaded: \(whereItGoes). Check the network, or put a copy in \(located.root). "
                    + "No run was created.")
        }
        return located
    }

    func ask(_ name: String, download: Bool) async throws -> Located {
        var environment = self.environment
        if downloadsAllowed { environment["YOLO_OFFLINE"] = nil }
        let result = try await ChildProcess.run(
            python.python, ["-m", "guardianflow_trainer.datasets", "--data", name] + (download ? ["--download"] : []),
            environment: environment, timeout: download ? .seconds(3600) : .seconds(120))
        if result.exit == .exited(2) {
            throw GuardianFlowError.invalidInput(
                "The data YAML \(name) does not exist here, and it is not one of ultralytics' datasets either "
                    + "(\(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).suffix(300))). Give --data the path of a "
                    + "YOLO dataset YAML (train:, val:, names:).")
        }
        guard result.exit.succeeded, let line = result.stdout.split(separator: "\n").last,
            let located = try? JSONDecoder().decode(Located.self, from: Data(line.utf8))
        else {
            throw GuardianFlowError.invalidInput(
                "ultralytics could not say where the dataset '\(name)' is (\(result.exit)): \(result.stderr.suffix(500)). "
                    + "Run scripts/setup, or give --data the path of a data YAML.")
        }
        return located
    }
}
