import ArgumentParser
import Foundation
import GuardianFlow
import MLflow

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List experiments, registered models, model versions or runs.",
        discussion: "Tables on a terminal; with --json, JSON only on stdout (notices go to stderr).",
        subcommands: [Experiments.self, Models.self, Versions.self, Runs.self]
    )

    struct Experiments: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "experiments", abstract: "List experiments.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Flag(help: "Include deleted experiments.") var all = false

        func run() async throws {
            try await global.withClient { settings, client in
                let experiments = try await client.allExperiments(viewType: all ? .all : .activeOnly)
                try await output.print(experiments.map(ExperimentRow.init)) {
                    var table = Table("ID", "NAME", "STAGE", "CREATED", "ARTIFACT LOCATION")
                    for e in experiments {
                        table.add(e.experimentId, e.name, e.lifecycleStage, TimeFormat.date(e.creationTime), e.artifactLocation)
                    }
                    Console.out(table.render())
                }
            }
        }
    }

    struct Models: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "models", abstract: "List registered models with their aliases.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Option(help: ArgumentHelp("Only models whose name contains this, in any case (% and _ are wildcards).", valueName: "text"))
        var filter: String?

        func run() async throws {
            try await global.withClient { settings, client in
                // ILIKE: case-insensitive on every backend (SQLite's LIKE is, PostgreSQL's is not).
                let sqlFilter = filter.map { "name ILIKE '%\($0.replacingOccurrences(of: "'", with: "''"))%'" }
                let models = try await client.allRegisteredModels(filter: sqlFilter)
                try await output.print(models.map(ModelRow.init)) {
                    var table = Table("NAME", "LATEST", "ALIASES", "UPDATED")
                    for m in models {
                        let latest = m.latestVersions.map(\.version).compactMap { Int($0) }.max().map(String.init) ?? "-"
                        table.add(m.name, latest, ModelRow.aliasText(m.aliases), TimeFormat.date(m.lastUpdatedTimestamp))
                    }
                    Console.out(table.render())
                }
            }
        }
    }

    struct Versions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "versions", abstract: "List the versions of a registered model, newest first.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The registered model.") var model: String

        func run() async throws {
            try await global.withClient { settings, client in
                let versions = try await ModelRegistry(client: client).listVersions(modelName: model)
                try await output.print(versions) {
                    VersionTable.print(versions)
                }
            }
        }
    }

    struct Runs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "runs", abstract: "List the runs of an experiment, newest first.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: ArgumentHelp("The experiment's name.", valueName: "experiment")) var name: String?
        @Option(help: "The experiment's name (the same as the argument).") var experiment: String?
        @Option(help: "At most this many runs.") var limit = 100

        func validate() throws {
            guard limit >= 1 else { throw ValidationError("--limit must be at least 1.") }
            guard (name == nil) != (experiment == nil) else {
                throw ValidationError("Name one experiment: `guardianflow list runs EXPERIMENT` (or --experiment EXPERIMENT).")
            }
        }

        func run() async throws {
            try await global.withClient { settings, client in
                let experiment = name ?? experiment ?? ""
                guard let found = try await client.getExperiment(named: experiment), !found.isDeleted else {
                    let names = try await client.allExperiments().map(\.name)
                    throw GuardianFlowError.registryState(
                        "There is no experiment '\(experiment)'. Experiments: \(names.joined(separator: ", ")).")
                }
                let runs = try await client.allRuns(
                    experimentIds: [found.experimentId], orderBy: ["attributes.start_time DESC"], limit: limit)
                try await output.print(runs.map(RunRow.init)) {
                    var table = Table("RUN ID", "NAME", "STATUS", "STARTED", "DURATION", "mAP50_95")
                    for r in runs {
                        let map = (r.metric("best/mAP50_95") ?? r.metric("mAP50_95")).map { String(format: "%.4f", $0) } ?? "-"
                        table.add(
                            r.info.runId, r.info.runName, r.info.status.rawValue, TimeFormat.date(r.info.startTime),
                            TimeFormat.duration(from: r.info.startTime, to: r.info.endTime), map)
                    }
                    Console.out(table.render())
                }
            }
        }
    }
}

// MARK: - JSON rows (snake_case, as MLflow's own API names things)

struct ExperimentRow: Encodable {
    var experiment_id: String
    var name: String
    var lifecycle_stage: String
    var artifact_location: String
    var creation_time: Int64?
    var tags: [String: String]

    init(_ e: Experiment) {
        experiment_id = e.experimentId
        name = e.name
        lifecycle_stage = e.lifecycleStage
        artifact_location = e.artifactLocation
        creation_time = e.creationTime
        tags = e.tags
    }
}

struct ModelRow: Encodable {
    var name: String
    var latest_version: String?
    var aliases: [String: String]
    var description: String
    var creation_timestamp: Int64?
    var last_updated_timestamp: Int64?
    var tags: [String: String]

    init(_ m: RegisteredModel) {
        name = m.name
        latest_version = m.latestVersions.map(\.version).compactMap { Int($0) }.max().map(String.init)
        aliases = m.aliases
        description = m.description
        creation_timestamp = m.creationTimestamp
        last_updated_timestamp = m.lastUpdatedTimestamp
        tags = m.tags
    }

    static func aliasText(_ aliases: [String: String]) -> String {
        aliases.isEmpty ? "-" : aliases.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}

struct RunRow: Encodable {
    var run_id: String
    var run_name: String
    var status: String
    var start_time: Int64?
    var end_time: Int64?
    var artifact_uri: String
    var metrics: [String: Double]
    var params: [String: String]
    var tags: [String: String]

    init(_ r: Run) {
        run_id = r.info.runId
        run_name = r.info.runName
        status = r.info.status.rawValue
        start_time = r.info.startTime
        end_time = r.info.endTime
        artifact_uri = r.info.artifactURI
        metrics = Dictionary(r.metrics.map { ($0.key, $0.value) }, uniquingKeysWith: { _, b in b })
        params = r.params
        tags = r.tags
    }
}
