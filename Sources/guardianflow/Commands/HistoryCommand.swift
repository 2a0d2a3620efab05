import ArgumentParser
import Foundation
import GuardianFlow

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
