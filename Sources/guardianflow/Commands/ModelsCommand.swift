import ArgumentParser
import Foundation
import GuardianFlow

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
