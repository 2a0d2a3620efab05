import ArgumentParser
import Foundation
import GuardianFlow

struct PromoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Make a version the champion (default: the candidate), after the gate.",
        discussion: """
            The gate compares the version's metric (default best/mAP50_95) with the champion's and \
            refuses (exit 5, both numbers shown, nothing changed) when it is worse by more than --margin, \
            or when either has no value for the metric (a version tag, else its run's metric). A first \
            champion passes; --force skips the gate and the history says so. Exit 6 (nothing changed): \
            no such model or version, no candidate, or the version already is the champion.

            Then: @rollback ← the old champion, @champion ← the version, @candidate removed if it \
            pointed there, audit tags on the version and an entry in the model's history. If it is \
            interrupted, running the same command again finishes it.
            """
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The registered model.") var model: String
    @Option(help: "The version to promote (default: the candidate's).") var version: String?
    @Option(help: "The metric the gate compares; higher is better.") var metric = "best/mAP50_95"
    @Option(help: "How much worse than the champion the version may be, in the metric's units (0.01 = one point of mAP).")
    var margin = 0.0
    @Flag(help: "Skip the gate (recorded in the history).") var force = false
    @Option(help: "Why, recorded in the history.") var reason: String?
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard margin >= 0 else { throw ValidationError("--margin must be 0 or more.") }
        if let version, Int(version) == nil { throw ValidationError("--version must be a version number such as 3.") }
    }

    func run() async throws {
        try await global.withClient { settings, client in
            let registry = ModelRegistry(client: client)
            let result = try await registry.promote(
                modelName: model, version: version, gate: PromotionGate(metric: metric, margin: margin), force: force, reason: reason)
            try await LifecycleOutput.print(result, output: output)
        }
    }
}

struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Put the previous champion (@rollback) back as champion.",
        discussion: """
            @champion ← the @rollback version; @rollback then points at the champion before that one \
            in the history, or is removed. Refuses with exit 6 when there is no @rollback.
            """
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The registered model.") var model: String
    @Option(help: "Why, recorded in the history.") var reason: String?
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await global.withClient { settings, client in
            let registry = ModelRegistry(client: client)
            try await LifecycleOutput.print(try await registry.rollback(modelName: model, reason: reason), output: output)
        }
    }
}

enum LifecycleOutput {
    static func print(_ result: LifecycleResult, output: OutputOptions) async throws {
        try await output.print(result) { human(result) }
    }

    static func human(_ result: LifecycleResult) {
        let verb = result.entry.action == .promote ? "Promoted" : "Rolled back to"
        Console.out(
            "\(verb) \(result.model) version \(result.champion) as @champion"
                + (result.entry.from.map { " (was version \($0))" } ?? " (first champion)")
                + (result.resumed ? ", finishing an interrupted \(result.entry.action.rawValue)" : "") + ".")
        Console.out("  @rollback: \(result.rollback.map { "version \($0)" } ?? "none")")
        if let gate = result.gate { Console.out("  gate: \(gate)") }
        Console.out("  deploy: models:/\(result.model)@champion")
    }
}

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Every promote and rollback of a model, newest first.",
        discussion: "Kept in the registry itself (registered-model tags guardianflow.history.*), so any MLflow client sees it."
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The registered model.") var model: String
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await global.withClient { settings, client in
            let entries = try await ModelRegistry(client: client).history(modelName: model)
            try await output.print(entries) {
                guard !entries.isEmpty else {
                    Console.out("No promotions or rollbacks of \(model) yet.")
                    return
                }
                var table = Table("WHEN", "ACTION", "VERSION", "FROM", "ROLLBACK", "BY", "REASON")
                for e in entries {
                    table.add(
                        e.at, e.action.rawValue + (e.forced ? " (forced)" : ""), e.version, e.from ?? "-", e.rollback ?? "-", e.by,
                        e.reason ?? "")
                }
                Console.out(table.render())
            }
        }
    }
}

struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "Inspect registered models.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "A model's versions with aliases, key metrics, dates and run ids.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The registered model.") var model: String
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await global.withClient { settings, client in
                let registry = ModelRegistry(client: client)
                let versions = try await registry.listVersions(modelName: model)
                try await output.print(versions) {
                    VersionTable.print(versions)
                    let history = try await registry.history(modelName: model).prefix(3)
                    if !history.isEmpty {
                        Console.out("\nLatest changes (all of them: guardianflow history \(model)):")
                        for e in history {
                            Console.out("  \(e.at)  \(e.action.rawValue) → version \(e.version) by \(e.by)\(e.reason.map { ": \($0)" } ?? "")")
                        }
                    }
                }
            }
        }
    }
}

/// The version table shared by `models show` and `list versions`.
enum VersionTable {
    static func print(_ versions: [ModelVersionSummary]) {
        var table = Table("VERSION", "ALIASES", "STATUS", "mAP50_95", "mAP50", "CREATED", "RUN ID")
        for v in versions {
            table.add(
                v.version, v.aliases.isEmpty ? "-" : v.aliases.map { "@" + $0 }.joined(separator: " "), v.status,
                v.tags["best/mAP50_95"] ?? "-", v.tags["best/mAP50"] ?? "-", TimeFormat.date(v.createdAt),
                v.runId.isEmpty ? "-" : v.runId)
        }
        Console.out(table.render())
    }
}

struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download a version's weights and check their SHA-256.",
        discussion: """
            MODEL means MODEL@champion; MODEL@ALIAS and MODEL/VERSION pick another. best.pt (and last.pt) \
            land in the output folder only when best.pt's SHA-256 matches the version's weights.sha256 tag.
            """
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "MODEL, MODEL@ALIAS or MODEL/VERSION.") var reference: String
    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The folder to write the weights to.", valueName: "dir"))
    var output: String = "."
    @Flag(help: "Print JSON on stdout (and nothing else there).") var json = false

    func run() async throws {
        try await global.withClient { settings, client in
            let parsed = try ModelReference(parsing: reference)
            let pulled = try await ModelRegistry(client: client, s3: settings.s3Configuration).pull(parsed, to: output)
            if json {
                try Console.json(pulled)
            } else {
                Console.out("Pulled \(pulled.model) version \(pulled.version) (\(parsed)): sha256 \(pulled.sha256) verified.")
                for file in pulled.files { Console.out("  \(file)") }
            }
        }
    }
}
