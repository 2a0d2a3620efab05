import Foundation
import MLflow

/// A training's datasets as MLflow inputs (`runs/log-inputs`): the training and validation
/// sets, each with its name, a digest of its content, its folder and a profile (images, labels,
/// boxes, class names), tagged with MLflow's context `training` or `validation`.
enum DatasetInputs {
    /// MLflow's digest holds 36 characters: the first 32 of the split's SHA-256 (the whole hash
    /// of the dataset is the run tag `dataset.sha256`).
    static let digestLength = 32

    static func make(for dataset: TrainingInputValidator.Dataset) -> [DatasetInput] {
        [
            input(dataset, dataset.train, split: "train", context: "training"),
            input(dataset, dataset.val, split: "val", context: "validation"),
        ]
    }

    /// The name MLflow shows: the YAML's own name (`coco8`), or its folder's for a generic
    /// `data.yaml` (`ppe-sample`).
    static func name(of dataset: TrainingInputValidator.Dataset) -> String {
        let stem = ((dataset.yamlPath as NSString).lastPathComponent as NSString).deletingPathExtension
        guard ["data", "dataset"].contains(stem.lowercased()) else { return stem }
        return ((dataset.yamlPath as NSString).deletingLastPathComponent as NSString).lastPathComponent
    }

    static func input(_ dataset: TrainingInputValidator.Dataset, _ split: TrainingInputValidator.Dataset.Split, split name: String, context: String)
        -> DatasetInput
    {
        let uri = split.folders.count == 1 ? split.folders[0] : dataset.root
        let profile: [String: Any] = [
            "images": split.images, "labels": split.labels, "objects": split.objects, "classes": dataset.classNames,
            "num_classes": dataset.classNames.count, "data_yaml": dataset.yamlPath,
        ]
        return DatasetInput(
            name: "\(Self.name(of: dataset))/\(name)", digest: String(split.contentHash.prefix(digestLength)),
            sourceType: uri.hasPrefix("s3://") ? "s3" : "local", source: json(["uri": uri]), profile: json(profile),
            tags: [DatasetInput.contextTag: context])
    }

    static func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
