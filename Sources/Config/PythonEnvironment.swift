import Foundation
import GuardianFlowCore
import PathSupport

/// The Python that holds ultralytics and mlflow: the project venv made by `scripts/setup`.
public struct PythonEnvironment: Sendable, Equatable {
    /// The interpreter.
    public var python: String

    /// The `bin/` folder of the venv.
    public var binDirectory: String { FilePaths.parent(python) }

    /// A console script installed beside the interpreter (`mlflow`, `yolo`).
    public func script(_ name: String) -> String {
        (binDirectory as NSString).appendingPathComponent(name)
    }

    public init(python: String) {
        self.python = python
    }

    /// Finds the interpreter: the `python` setting, else a `.venv` beside the guardianflow
    /// executable's checkout (walking up from it), else `.venv` in the working directory.
    public static func locate(settings: Settings, executablePath: String = currentExecutable()) -> PythonEnvironment {
        if let python = settings[.python] { return PythonEnvironment(python: python) }
        var candidates: [String] = []
        var directory = FilePaths.parent((executablePath as NSString).resolvingSymlinksInPath)
        for _ in 0..<6 where !directory.isEmpty && directory != "/" {
            candidates.append((directory as NSString).appendingPathComponent(".venv/bin/python"))
            directory = FilePaths.parent(directory)
        }
        candidates.append((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(".venv/bin/python"))
        let found = candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
        return PythonEnvironment(python: found ?? candidates.last!)
    }

    /// This process's executable, wherever it was started from (not argv[0], which is a bare
    /// name when found through PATH).
    public static func currentExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first ?? ""
    }

    /// Whether the interpreter exists.
    public var exists: Bool { FileManager.default.isExecutableFile(atPath: python) }

    /// The installed versions of the packages guardianflow needs, read without importing them.
    ///
    /// - Returns: package → version, nil for a package that is missing.
    public func packageVersions(_ packages: [String] = ["mlflow", "ultralytics", "torch"]) async throws -> [String: String?] {
        let code = """
            import json, importlib.metadata as m
            out = {}
            for p in \(packages.map { "'\($0)'" }.joined(separator: ",").wrappedInBrackets):
                try: out[p] = m.version(p)
                except Exception: out[p] = None
            print(json.dumps(out))
            """
        let result = try await ChildProcess.run(python, ["-c", code], timeout: .seconds(30))
        guard result.exit.succeeded, let data = result.stdout.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw GuardianFlowError.invalidInput(
                "The Python at \(python) does not run (\(result.exit)): \(result.stderr.suffix(300)). Run scripts/setup.")
        }
        var versions: [String: String?] = [:]
        for package in packages { versions[package] = object[package] as? String }
        return versions
    }

    /// The installed ultralytics package folder, found without starting Python.
    package func ultralyticsPackage() -> String? {
        let lib = (FilePaths.parent(binDirectory) as NSString).appendingPathComponent("lib")
        guard let versions = try? FileManager.default.contentsOfDirectory(atPath: lib) else { return nil }
        for version in versions where version.hasPrefix("python") {
            let candidate = "\(lib)/\(version)/site-packages/ultralytics"
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return nil
    }
}

extension String {
    fileprivate var wrappedInBrackets: String { "[" + self + "]" }
}
