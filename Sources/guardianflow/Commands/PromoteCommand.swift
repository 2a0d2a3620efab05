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
