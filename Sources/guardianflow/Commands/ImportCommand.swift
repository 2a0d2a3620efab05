import ArgumentParser
import Foundation
import GuardianFlow

#if canImport(Glibc)
    import Glibc
#endif

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Bring the run folders of plain `yolo train` (and YOLOv5) into MLflow, dated when they trained, once.",
        discussion: """
            Each PATH is searched, with every folder below it, for runs: an ultralytics run is a folder \
            with args.yaml plus results.csv or weights/*.pt; a YOLOv5 run one with opt.yaml and hyp.yaml.

            Start with the survey: `guardianflow import runs/ --dry-run` prints one row per run found (its \
            format and ultralytics version, task, model, data, epochs done of planned, the status it would \
            get, its best mAP50-95, when it started, and the MLflow run it is already imported as) and \
            writes nothing; it needs no --experiment.

            Each run becomes an MLflow run as `train` would have made it: its args as params; every epoch \
            of results.csv as metrics under train's names and steps (mAP50, mAP50_95, precision, recall, \
            box_loss, …, val/…, lr/pg0…; step = the 1-based epoch; other columns kept under a name MLflow \
            accepts); its start and end times and each epoch's timestamp from when it trained (the tag \
            guardianflow.import.times says from what); FINISHED when the training completed (the \
            checkpoint was stripped, all planned epochs are there, or early stopping ended it), KILLED when \
            it was interrupted; the weights, results.csv, the args, the plots and a SHA-256 manifest as \
            artifacts. --register registers the best.pt of FINISHED runs as model versions, tagged as \
            `train` tags them; no alias moves.

            Importing again is safe: a run is known by where it came from, even after its folder was \
            copied or moved. An unchanged run is left alone, a grown one (resumed since) gets only its new \
            epochs, and one left partial by an interrupted import is completed by replacing it.

            Exit codes: 0 all imported (or already there), 8 some folders were damaged and skipped (the \
            others were imported), 65 a PATH that does not exist or holds no run, or only damaged ones \
            (nothing is created, not even the experiment), 69 MLflow unreachable, 130/143 stopped (the run \
            in the middle is left partial, and the next import completes it).
            """
    )

    @Argument(help: ArgumentHelp("Folders to search for runs (runs/detect, a single run's folder, …).", valueName: "path"))
    var paths: [String]

    @Option(help: "The experiment the runs go to (made when missing). Required unless --dry-run.")
    var experiment: String?

    @Option(help: "Tag the runs (and versions) with this customer.")
    var customer: String?

    @Option(help: "Tag the runs (and versions) with this task.")
    var task: String?

    @Flag(help: "Register the best.pt of each FINISHED run as a version of the model (no alias is moved).")
    var register = false

    @Option(help: "The registered model for --register (default: <customer>-<task>, else the experiment).")
    var modelName: String?

    @Flag(help: "Import params, metrics and tags only: no weights, results, args or plots uploaded.")
    var noArtifacts = false

    @Flag(help: "The survey: print what each run is and would become, and write nothing.")
    var dryRun = false

    @Option(help: "How many runs are imported at once.")
    var jobs = 4

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if !dryRun && (experiment ?? "").isEmpty {
            throw ValidationError("Give --experiment NAME (the experiment the runs go to), or --dry-run to survey the runs first.")
        }
        if register && noArtifacts {
            throw ValidationError("--register needs the weights uploaded: drop --no-artifacts, or --register.")
        }
        if jobs < 1 || jobs > 64 { throw ValidationError("--jobs must be between 1 and 64 (got \(jobs)).") }
    }

    func run() async throws {
        try await global.run { settings in
            let reading = try await RunImport.read(paths, python: PythonEnvironment.locate(settings: settings), logger: log)
            for skipped in reading.skipped {
                log.warning("Skipping \(skipped.path): \(skipped.detail ?? "it cannot be read").")
            }
            if dryRun {
                try await survey(reading, settings: settings)
            } else {
                try await importRuns(reading, settings: settings)
            }
        }
    }

    func survey(_ reading: RunImport.Reading, settings: Settings) async throws {
        var imported: [String: [Run]]?
        let connector = TrackingConnector(settings: settings)
        if connector.usesEmbeddedServer, !(await LocalMLflowServer(settings: settings).isAnswering()) {
            // A survey writes nothing: it does not start the local server to ask it.
            log.notice("The local MLflow server is not running, so nothing is imported in it yet; the survey does not start it.")
            imported = [:]
        } else {
            do {
                let client = try connector.makeClient()
                imported = try await RunImporter(client: client, settings: settings, options: ImportOptions(experiment: "")).importedRuns()
            } catch {
                log.warning(
                    "MLflow could not be asked which runs are imported already (\(GuardianFlowError.wrap(error).description)); the IMPORTED AS column is '?'."
                )
            }
        }
        let rows = SurveyRow.rows(reading, imported: imported)
        try await output.print(rows) {
            var table = Table(
                "PATH", "FORMAT", "VERSION", "TASK", "MODEL", "DATA", "EPOCHS", "STATUS", "BEST mAP50-95", "STARTED", "IMPORTED AS")
            table.maxCellWidth = 48
            for row in rows {
                table.rows.append([
                    Self.shortPath(row.path), row.format, row.ultralyticsVersion ?? "-", row.task ?? "-",
                    row.model.map(Self.shortPath) ?? "-",
                    row.data.map(Self.shortPath) ?? "-",
                    row.epochs.map { "\($0)/\(row.plannedEpochs.map(String.init) ?? "?")" } ?? "-",
                    row.status ?? "unreadable: \(row.error ?? "")", row.bestMAP50_95.map { String(format: "%.4f", $0) } ?? "-",
                    row.start.map { String($0.prefix(16)).replacingOccurrences(of: "T", with: " ") } ?? "-",
                    row.importedAs ?? (imported == nil ? "?" : "-"),
                ])
            }
            Console.out(table.render())
        }
        let found = reading.runs.count
        log.notice(
            "\(found) run(s) found, \(reading.skipped.count) unreadable; nothing was written. Import them with `guardianflow import \(paths.joined(separator: " ")) --experiment NAME`."
        )
        if !reading.skipped.isEmpty {
            throw GuardianFlowError.partlyDone("\(reading.skipped.count) run folder(s) cannot be read and would be skipped (see above).")
        }
    }

    func importRuns(_ reading: RunImport.Reading, settings: Settings) async throws {
        guard !reading.runs.isEmpty else {
            throw GuardianFlowError.invalidInput(
                "Every run folder found is damaged (\(reading.skipped.count), see above): nothing was imported, and no experiment was created."
            )
        }
        let experimentName = experiment ?? ""
        let client = try await TrackingConnector(settings: settings).connect()
        var options = ImportOptions(experiment: experimentName)
        options.customer = customer
        options.task = task
        options.register = register
        options.modelName = modelName
        options.uploadArtifacts = !noArtifacts
        options.concurrency = jobs
        let experiment = try await client.getOrCreateExperiment(
            named: experimentName, tags: ["mlflow.experimentKind": "custom_model_development"])
        let importer = RunImporter(client: client, settings: settings, options: options, logger: log)
        log.notice("Importing \(reading.runs.count) run(s) into experiment '\(experimentName)' (id \(experiment.experimentId))…")
        let runs = reading.runs
        let work = Task {
            try await RunImport.importAll(runs, into: experiment, importer: importer) { result, done, total in
                log.notice("[\(done)/\(total)] \(Self.shortPath(result.path)): \(Self.describe(result))")
            }
        }
        let stop = InterruptHandler { _ in work.cancel() }
        let results: [ImportResult]
        do {
            results = try await work.value
        } catch is CancellationError {
            let signal = stop.signal ?? SIGINT
            throw GuardianFlowError.interrupted(
                signal: signal,
                "Import stopped: runs already imported stay, and a run in the middle is left partial (KILLED); import again to complete it."
            )
        }
        withExtendedLifetime(stop) {}
        let all = (results + reading.skipped).sorted { $0.path < $1.path }
        try await output.print(ImportReport(experimentId: experiment.experimentId, experiment: experimentName, results: all)) {
            var table = Table("PATH", "RESULT", "RUN", "STATUS", "EPOCHS WRITTEN", "MODEL VERSION", "DETAIL")
            for result in all {
                table.rows.append([
                    Self.shortPath(result.path), result.outcome.rawValue, result.runId ?? "-", result.status?.rawValue ?? "-",
                    String(result.epochsWritten),
                    result.model.map { "\($0.name)/\($0.version)" } ?? "-", result.detail ?? "",
                ])
            }
            Console.out(table.render())
        }
        let counts = Dictionary(grouping: all, by: \.outcome).mapValues(\.count)
        let summary = ImportResult.Outcome.allCases.compactMap { outcome in counts[outcome].map { "\($0) \(outcome.rawValue)" } }.joined(
            separator: ", ")
        if counts[.unchanged] == all.count {
            log.notice(
                "Nothing to import: all \(all.count) run(s) are in experiment '\(experimentName)' already, unchanged. Nothing was written.")
        } else {
            log.notice("Experiment '\(experimentName)': \(summary).")
        }
        if let failed = all.first(where: { $0.outcome == .failed }) {
            throw GuardianFlowError.exiting(
                failed.exitCode ?? 69, "\(counts[.failed] ?? 0) run(s) could not be imported (see above); import again to complete them.")
        }
        if !reading.skipped.isEmpty {
            throw GuardianFlowError.partlyDone(
                "\(reading.skipped.count) run folder(s) were damaged and skipped (see above); the others were imported.")
        }
    }

    static func describe(_ result: ImportResult) -> String {
        let run = result.runId.map { " run \($0)" } ?? ""
        let status = result.status.map { " \($0.rawValue)" } ?? ""
        switch result.outcome {
        case .created:
            return "created\(run),\(status), \(result.epochsWritten) epochs" + (result.model.map { ", version \($0.version)" } ?? "")
        case .appended: return "grown: \(result.epochsWritten) new epoch(s) appended to\(run),\(status)"
        case .replaced: return "replaced (\(result.detail ?? "")):\(run),\(status), \(result.epochsWritten) epochs"
        case .unchanged: return "already imported as\(run), unchanged" + (result.detail.map { " (\($0))" } ?? "")
        case .updated: return "already imported as\(run); its status, files or version brought up to date"
        case .skipped: return "skipped: \(result.detail ?? "")"
        case .failed: return "failed: \(result.detail ?? "")"
        }
    }

    /// A path relative to the working directory when it is under it.
    static func shortPath(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        if path.hasPrefix(cwd + "/") { return String(path.dropFirst(cwd.count + 1)) }
        return path
    }
}

/// `import --json`: the experiment and what happened to each folder.
struct ImportReport: Encodable {
    var experimentId: String
    var experiment: String
    var results: [ImportResult]

    enum CodingKeys: String, CodingKey {
        case experimentId = "experiment_id"
        case experiment, runs
    }
    enum RunKeys: String, CodingKey {
        case path, result
        case runId = "run_id"
        case status
        case epochsWritten = "epochs_written"
        case model, detail
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(experimentId, forKey: .experimentId)
        try c.encode(experiment, forKey: .experiment)
        var runs = c.nestedUnkeyedContainer(forKey: .runs)
        for result in results {
            var run = runs.nestedContainer(keyedBy: RunKeys.self)
            try run.encode(result.path, forKey: .path)
            try run.encode(result.outcome.rawValue, forKey: .result)
            try run.encode(result.runId, forKey: .runId)
            try run.encode(result.status?.rawValue, forKey: .status)
            try run.encode(result.epochsWritten, forKey: .epochsWritten)
            try run.encode(result.model.map { ["name": $0.name, "version": $0.version] }, forKey: .model)
            try run.encode(result.detail, forKey: .detail)
        }
    }
}
