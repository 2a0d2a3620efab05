import Artifacts
import Config
import Foundation
import GuardianFlowCore
import PathSupport

/// Checks everything a training needs before anything is written to MLflow: the data YAML,
/// its image folders, the model, and the numbers. Each failure names the file or field and the fix.
public struct TrainingInputValidator: Sendable {
    /// The ultralytics package folder, to know its model config names (`yolov8n.yaml`).
    public var ultralyticsPackage: String?
    /// The NVIDIA GPUs a training here can use: 0 without a driver, nil when there is one but the
    /// count is unknown (or is not this machine's to know: `submit` checks GPUs where the job runs).
    public var visibleGPUs: @Sendable () -> Int?

    public init(ultralyticsPackage: String?, visibleGPUs: @escaping @Sendable () -> Int? = { TrainingInputValidator.visibleGPUCount() }) {
        self.ultralyticsPackage = ultralyticsPackage
        self.visibleGPUs = visibleGPUs
    }

    /// What validation learnt about the dataset.
    public struct Dataset: Sendable, Equatable {
        /// The data YAML, absolute.
        public var yamlPath: String
        /// The folder its splits are relative to.
        public var root: String
        public var classNames: [String]
        public var train: Split
        public var val: Split
        /// SHA-256 over the YAML and the names and sizes of every image.
        public var contentHash: String

        public var trainImages: Int { train.images }
        public var valImages: Int { val.images }

        /// One split (train or val): its folders and what they hold.
        public struct Split: Sendable, Equatable {
            /// The image folders (or list files), absolute.
            public var folders: [String]
            public var images: Int
            /// Images that have a label file (`labels/…/NAME.txt` beside `images/…/NAME.jpg`).
            public var labels: Int
            /// Boxes in those label files.
            public var objects: Int
            /// SHA-256 over the YAML and this split's image and label names and sizes.
            public var contentHash: String
        }
    }

    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff", "dng", "mpo", "heic"]

    /// Validates the options' numbers and device.
    public func validate(options: TrainingOptions) throws {
        func bad(_ text: String) -> GuardianFlowError { .invalidInput(text) }
        guard options.epochs >= 1 else { throw bad("--epochs is \(options.epochs); it must be 1 or more.") }
        guard options.batch >= 1 || options.batch == -1 else {
            throw bad("--batch is \(options.batch); it must be 1 or more, or -1 to let ultralytics pick (AutoBatch).")
        }
        guard options.imgsz >= 1 else { throw bad("--imgsz is \(options.imgsz); it must be 1 or more (e.g. 640).") }
        if let lr = options.learningRate, !(lr > 0 && lr < 10) {
            throw bad("--lr is \(lr); it must be a positive learning rate such as 0.01.")
        }
        if let workers = options.workers, workers < 0 { throw bad("--workers is \(workers); it must be 0 or more.") }
        if let device = options.device {
            try validate(device: device)
            let gpus = Self.gpuIndices(device)?.count ?? 1
            if gpus > 1, options.batch == -1 {
                throw bad(
                    "--batch -1 (AutoBatch) sizes the batch to one GPU; ultralytics cannot do that for a multi-GPU training. "
                        + "Give a batch that is a multiple of \(gpus), e.g. --batch \(gpus * 8) (8 images on each GPU).")
            }
            if gpus > 1, options.batch < gpus {
                throw bad(
                    "--batch \(options.batch) is split across \(gpus) GPUs, which leaves a GPU with none; "
                        + "give a multiple of \(gpus), e.g. --batch \(gpus * 8).")
            }
        }
        if options.batch == -1, options.device == nil || options.device?.lowercased() == "cpu" {
            throw bad(
                "--batch -1 (AutoBatch) sizes the batch to a GPU's memory, so it needs --device with a GPU index (e.g. --device 0); "
                    + "on the CPU give a batch size such as 16.")
        }
    }

    func validate(device: String) throws {
        let lower = device.lowercased()
        if lower == "cpu" { return }
        let gpuPattern = #"^(cuda:)?\d+(,\d+)*$"#
        guard lower.range(of: gpuPattern, options: .regularExpression) != nil || lower == "cuda" || lower == "mps" else {
            throw GuardianFlowError.invalidInput(
                "--device '\(device)' is not a device; use cpu, a GPU index such as 0, cuda:0, or several GPUs such as 0,1.")
        }
        if lower == "mps" {
            throw GuardianFlowError.invalidInput(
                "--device mps is Apple's GPU, which this machine does not have; use cpu or a CUDA GPU index.")
        }
        let indices = Self.gpuIndices(device) ?? [0]
        if let twice = indices.first(where: { index in indices.filter { $0 == index }.count > 1 }) {
            throw GuardianFlowError.invalidInput("--device '\(device)' names GPU \(twice) twice; list each GPU once (e.g. 0,1).")
        }
        let count = visibleGPUs()
        guard count != 0 else {
            throw GuardianFlowError.invalidInput(
                "--device '\(device)' asks for a GPU, but no NVIDIA driver is loaded on this machine; use --device cpu.")
        }
        if let count, let beyond = indices.first(where: { $0 >= count }) {
            let visible = ProcessInfo.processInfo.environment["CUDA_VISIBLE_DEVICES"].map { " (CUDA_VISIBLE_DEVICES='\($0)')" } ?? ""
            throw GuardianFlowError.invalidInput(
                "--device '\(device)' asks for GPU \(beyond), but \(count) GPU\(count == 1 ? " is" : "s are") visible here\(visible): "
                    + "use \(count == 1 ? "0" : "indices 0 to \(count - 1)").")
        }
    }

    /// The GPU indices of a device list (`0,1`, `cuda:0,1`); nil for cpu, mps or bare `cuda`.
    public static func gpuIndices(_ device: String) -> [Int]? {
        var text = device.lowercased().trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("cuda:") { text = String(text.dropFirst(5)) }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.compactMap { $0 }
    }

    /// Validates a data YAML and its image folders.
    ///
    /// - Parameter root: the dataset folder when ultralytics puts it elsewhere than the YAML
    ///   says (a built-in dataset under its `datasets_dir`).
    public func validate(dataYAML path: String, root: String? = nil) throws -> Dataset {
        let yamlPath = Self.absolute(path)
        guard FileManager.default.fileExists(atPath: yamlPath) else {
            throw GuardianFlowError.invalidInput(
                "The data YAML \(yamlPath) does not exist. Give --data the path of a YOLO dataset YAML (train:, val:, names:).")
        }
        let (text, parsed) = try YAMLFile(role: "The data YAML", example: "A YOLO dataset YAML has train:, val: and names:.").read(yamlPath)
        guard let mapping = parsed as? [String: Any] else {
            throw GuardianFlowError.invalidInput("The data YAML \(yamlPath) must be a mapping with train:, val: and names:.")
        }
        for key in ["train", "val", "names"] where mapping[key] == nil {
            throw GuardianFlowError.invalidInput(
                "The data YAML \(yamlPath) has no '\(key):' key; YOLO datasets need train:, val: and names:.")
        }
        let names: [String]
        if let list = mapping["names"] as? [Any] {
            names = list.map { "\($0)" }
        } else if let dict = mapping["names"] as? [AnyHashable: Any],
            case let indexed = dict.compactMap({ key, value in Int("\(key.base)").map { ($0, "\(value)") } }),
            indexed.count == dict.count
        {
            names = indexed.sorted { $0.0 < $1.0 }.map(\.1)
        } else {
            throw GuardianFlowError.invalidInput(
                "The data YAML \(yamlPath): 'names:' must be a list or a mapping of class index to name.")
        }
        guard !names.isEmpty else {
            throw GuardianFlowError.invalidInput("The data YAML \(yamlPath): 'names:' is empty; give at least one class.")
        }
        if let nc = mapping["nc"] {
            guard let count = nc as? Int else {
                throw GuardianFlowError.invalidInput("The data YAML \(yamlPath): 'nc: \(nc)' must be an integer.")
            }
            guard count == names.count else {
                throw GuardianFlowError.invalidInput(
                    "The data YAML \(yamlPath): 'nc: \(count)' does not match the \(names.count) names; fix one of them.")
            }
        }
        let base = root ?? Self.datasetRoot(mapping: mapping, yamlPath: yamlPath)
        var splits: [String: Dataset.Split] = [:]
        var hashInput = Data(text.utf8)
        for split in ["train", "val"] {
            let entries: [String]
            if let one = mapping[split] as? String {
                entries = [one]
            } else if let many = mapping[split] as? [Any] {
                entries = many.map { "\($0)" }
            } else {
                throw GuardianFlowError.invalidInput("The data YAML \(yamlPath): '\(split):' must be a folder path or a list of them.")
            }
            var total = 0
            var folders: [String] = []
            var splitHash = Data(text.utf8)
            var labels = 0
            var objects = 0
            for entry in entries {
                let folder = entry.hasPrefix("/") ? entry : (base as NSString).appendingPathComponent(entry)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) else {
                    throw GuardianFlowError.invalidInput(
                        "The data YAML \(yamlPath): the \(split) images folder \(folder) does not exist.")
                }
                let files = isDirectory.boolValue ? Self.imageFiles(in: folder) : Self.listedImages(in: folder, base: base)
                guard !files.isEmpty else {
                    throw GuardianFlowError.invalidInput(
                        "The data YAML \(yamlPath): the \(split) images folder \(folder) has no images (.jpg, .png, …).")
                }
                total += files.count
                folders.append(folder)
                for file in files {
                    let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value ?? 0
                    let line = Data("\(file.dropFirst(base.count)):\(size)\n".utf8)
                    hashInput.append(line)
                    splitHash.append(line)
                    if let boxes = Self.labelLines(forImage: file) {
                        labels += 1
                        objects += boxes
                        splitHash.append(Data("label:\(boxes)\n".utf8))
                    }
                }
            }
            splits[split] = Dataset.Split(
                folders: folders, images: total, labels: labels, objects: objects, contentHash: FileDigest.sha256(splitHash))
        }
        return Dataset(
            yamlPath: yamlPath, root: base, classNames: names, train: splits["train"]!, val: splits["val"]!,
            contentHash: FileDigest.sha256(hashInput))
    }

    /// The boxes in an image's label file, as ultralytics pairs them (the last `/images/` of the
    /// path becomes `/labels/`, the extension `.txt`); nil when it has none.
    static func labelLines(forImage image: String) -> Int? {
        guard let range = image.range(of: "/images/", options: .backwards) else { return nil }
        let labelPath = ((image.replacingCharacters(in: range, with: "/labels/")) as NSString).deletingPathExtension + ".txt"
        guard let text = try? String(contentsOfFile: labelPath, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.count
    }

    /// Validates the model: a local `.pt`/`.yaml` file, or an ultralytics model config name.
    ///
    /// - Returns: the value to give ultralytics (an absolute path for files).
    public func validate(model: String) throws -> String {
        let path = Self.absolute(model)
        let lower = model.lowercased()
        guard lower.hasSuffix(".pt") || lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") else {
            throw GuardianFlowError.invalidInput(
                "--model '\(model)' is neither a .pt weights file nor a .yaml model config; e.g. yolov8n.yaml or runs/best.pt.")
        }
        if FileManager.default.fileExists(atPath: path) { return path }
        if lower.hasSuffix(".pt") {
            throw GuardianFlowError.invalidInput(
                "The weights file \(path) does not exist, and guardianflow never downloads weights. Give the path of a "
                    + "local .pt, or a model config such as \((model as NSString).deletingPathExtension).yaml to train from scratch.")
        }
        guard !model.contains("/") else {
            throw GuardianFlowError.invalidInput("The model config \(path) does not exist.")
        }
        let known = knownModelConfigs()
        if known.isEmpty || known.contains(lower) || known.contains(Self.withoutScale(lower)) { return model }
        let suggestions = known.filter { $0.hasPrefix("yolov8") || $0.hasPrefix("yolo11") }.sorted().prefix(6).joined(separator: ", ")
        throw GuardianFlowError.invalidInput(
            "--model '\(model)' is not an ultralytics model config nor a file here. Known configs include \(suggestions) "
                + "(add a scale letter n/s/m/l/x: yolov8n.yaml).")
    }

    /// `yolov8n.yaml` → `yolov8.yaml`: ultralytics reads the scale from the name.
    static func withoutScale(_ name: String) -> String {
        name.replacingOccurrences(of: #"(\d+)[nslmx](?=[-.])"#, with: "$1", options: .regularExpression)
    }

    func knownModelConfigs() -> Set<String> {
        guard let package = ultralyticsPackage else { return [] }
        let root = (package as NSString).appendingPathComponent("cfg/models")
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        var names: Set<String> = []
        for case let file as String in enumerator where file.hasSuffix(".yaml") {
            names.insert((file as NSString).lastPathComponent.lowercased())
        }
        return names
    }

    static func datasetRoot(mapping: [String: Any], yamlPath: String) -> String {
        let directory = FilePaths.parent(yamlPath)
        guard let path = mapping["path"] as? String, !path.isEmpty else { return directory }
        if path.hasPrefix("/") { return path }
        // ultralytics resolves a relative path: against its datasets dir, not the YAML; a dataset
        // shipped beside its YAML is the common case guardianflow checks.
        return ((directory as NSString).appendingPathComponent(path) as NSString).standardizingPath
    }

    static func imageFiles(in folder: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: folder) else { return [] }
        var files: [String] = []
        for case let file as String in enumerator where imageExtensions.contains((file as NSString).pathExtension.lowercased()) {
            files.append((folder as NSString).appendingPathComponent(file))
        }
        return files.sorted()
    }

    /// A `.txt` list of image paths, as ultralytics accepts.
    static func listedImages(in listFile: String, base: String) -> [String] {
        guard let text = try? String(contentsOfFile: listFile, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map { line in
            let entry = line.trimmingCharacters(in: .whitespaces)
            return entry.hasPrefix("/") ? entry : (base as NSString).appendingPathComponent(entry)
        }.filter { FileManager.default.fileExists(atPath: $0) }
    }

    static func absolute(_ path: String) -> String { FilePaths.absolute(path) }

    /// Whether the NVIDIA kernel driver is loaded.
    public static func nvidiaDriverLoaded() -> Bool {
        FileManager.default.fileExists(atPath: "/proc/driver/nvidia/version")
    }

    /// The GPUs CUDA will show a training here: 0 without a driver; CUDA_VISIBLE_DEVICES' entries
    /// when it is set (Slurm sets it to the job's GPUs); else the driver's GPUs
    /// (/proc/driver/nvidia/gpus), or nil when it does not list them.
    public static func visibleGPUCount(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        guard nvidiaDriverLoaded() else { return 0 }
        if let visible = environment["CUDA_VISIBLE_DEVICES"] {
            // CUDA stops at the first entry it cannot use (-1, a bad UUID).
            let entries = visible.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            return entries.prefix { !$0.isEmpty && $0 != "-1" }.count
        }
        let count = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/driver/nvidia/gpus"))?.count ?? 0
        return count > 0 ? count : nil
    }
}
